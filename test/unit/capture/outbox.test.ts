import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ChangeDraft } from '../../../src/capture/index.ts';
import { isHindsightError } from '../../../src/core/index.ts';
import { hashChunk } from '../../../src/store/index.ts';
import { allChanges, type CaptureEnv, makeEnv } from './fixture.ts';

function put(path: string, body = path): ChangeDraft {
  return {
    path,
    kind: 'put',
    mode: 0o644,
    mtimeMs: 1,
    size: body.length,
    chunks: null,
    target: null,
    capturedAt: 2,
  };
}
function del(path: string): ChangeDraft {
  return { path, kind: 'delete', mode: 0, mtimeMs: 0, size: 0, chunks: null, target: null, capturedAt: 2 };
}
function seqsOf(env: CaptureEnv): string[] {
  return allChanges(env).map((c) => `${c.seq}:${c.kind}:${c.path}`);
}

describe('Outbox', () => {
  let env: CaptureEnv;
  beforeEach(() => {
    env = makeEnv(['m1', 'm2']);
  });
  afterEach(() => env.cleanup());

  it('assigns consecutive seqs and the volume epoch, and reads them back in order', async () => {
    const data = Buffer.from('hello chunk');
    const hash = hashChunk(data);
    env.store.putRaw(hash, data);
    const first = { ...put('a'), chunks: hash };
    assert.equal(await env.outbox.append(env.volume, [first, put('b')], env.store), 2);
    assert.equal(await env.outbox.append(env.volume, [put('c')], env.store), 3);
    assert.equal(env.outbox.lastSeq(env.volume), 3);
    const got = allChanges(env);
    assert.deepEqual(
      got.map((c) => [c.seq, c.epoch, c.path]),
      [
        [1, 1, 'a'],
        [2, 1, 'b'],
        [3, 1, 'c'],
      ],
    );
    assert.deepEqual(got[0].chunks, hash);
    assert.equal(got[0].mode, 0o644);
    // The chunk the change references is committed with it.
    const row = env.catalog.prepare('SELECT count(*) AS n FROM chunks WHERE hash = ?').get(hash) as {
      n: number;
    };
    assert.equal(row.n, 1);
    assert.deepEqual(
      env.outbox.readAfter(env.volume, 1, 1).map((c) => c.seq),
      [2],
    );
    assert.deepEqual(env.outbox.readAfter(env.volume, 3, 10), []);
  });

  it('writes files rows in the same transaction, with the seq of their change', async () => {
    const row = {
      path: 'a',
      kind: 'file' as const,
      size: 1n,
      mtimeNs: 5n,
      ctimeNs: 6n,
      ino: 7n,
      mode: 0o100644n,
    };
    await env.outbox.append(env.volume, [put('x'), put('a')], env.store, { upserts: [row], deletes: [] });
    const got = env.catalog.prepare("SELECT seq, ino FROM files WHERE volume = 'vol' AND path = 'a'").get();
    assert.deepEqual({ ...got }, { seq: 2, ino: 7 });
    await env.outbox.append(env.volume, [del('a')], env.store, { upserts: [], deletes: ['a'] });
    assert.equal(env.catalog.prepare("SELECT * FROM files WHERE volume = 'vol'").all().length, 0);
  });

  it('keeps everything until every mirror has acknowledged, then trims superseded rows and deletes', async () => {
    await env.outbox.append(env.volume, [put('a'), put('b'), put('c')], env.store); // 1..3
    await env.outbox.append(env.volume, [put('a'), del('b')], env.store); // 4, 5
    assert.equal(env.outbox.minAcked(env.volume), 0);
    assert.deepEqual(seqsOf(env), ['1:put:a', '2:put:b', '3:put:c', '4:put:a', '5:delete:b']);

    env.outbox.acknowledge(env.volume, 'm1', 1, 5, 100);
    assert.equal(env.outbox.minAcked(env.volume), 0, 'm2 has not acknowledged anything');
    assert.equal(seqsOf(env).length, 5);

    env.outbox.acknowledge(env.volume, 'm2', 1, 4, 100);
    assert.equal(env.outbox.minAcked(env.volume), 4);
    // put a@1 is superseded by a@4 and b@2 by the delete @5; the delete itself is not acked by m2.
    assert.deepEqual(seqsOf(env), ['3:put:c', '4:put:a', '5:delete:b']);

    env.outbox.acknowledge(env.volume, 'm2', 1, 5, 101);
    assert.deepEqual(seqsOf(env), ['3:put:c', '4:put:a'], 'a delete acked by all is dropped');
  });

  it('trims on append what every mirror already holds of the same path', async () => {
    await env.outbox.append(env.volume, [put('a'), put('b')], env.store);
    env.outbox.acknowledge(env.volume, 'm1', 1, 2, 1);
    env.outbox.acknowledge(env.volume, 'm2', 1, 1, 1);
    await env.outbox.append(env.volume, [put('a'), put('b')], env.store); // 3, 4
    // a@1 ≤ minAck 1 is superseded; b@2 is not yet held by m2.
    assert.deepEqual(seqsOf(env), ['2:put:b', '3:put:a', '4:put:b']);
  });

  it('never moves an acknowledgement backwards and refuses one ahead of the outbox', async () => {
    await env.outbox.append(env.volume, [put('a'), put('b')], env.store);
    env.outbox.acknowledge(env.volume, 'm1', 1, 2, 1);
    env.outbox.acknowledge(env.volume, 'm1', 1, 1, 2);
    const ack = env.catalog.prepare("SELECT seq FROM acks WHERE mirror = 'm1'").get() as { seq: number };
    assert.equal(ack.seq, 2);
    assert.throws(
      () => env.outbox.acknowledge(env.volume, 'm1', 1, 3, 3),
      (e) => isHindsightError(e, 'E_OUTBOX_ACK_AHEAD'),
    );
  });

  it('refuses to append for a volume that is stopped or not primary', async () => {
    env.catalog.prepare("UPDATE volumes SET state = 'stopped', reason = 'x'").run();
    await assert.rejects(env.outbox.append(env.volume, [put('a')], env.store), (e) =>
      isHindsightError(e, 'E_OUTBOX_STOPPED'),
    );
    env.catalog.prepare("UPDATE volumes SET state = 'active', role = 'mirror'").run();
    await assert.rejects(env.outbox.append(env.volume, [put('a')], env.store), (e) =>
      isHindsightError(e, 'E_OUTBOX_NOT_PRIMARY'),
    );
    await assert.rejects(env.outbox.append('nope', [put('a')], env.store), (e) =>
      isHindsightError(e, 'E_OUTBOX_NO_VOLUME'),
    );
    assert.equal(env.outbox.lastSeq(env.volume), 0);
  });
});
