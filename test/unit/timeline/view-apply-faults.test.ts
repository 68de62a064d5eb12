/**
 * Apply through the TreeOps seam: each write of a view can fail, as a disk fails, and the view
 * must neither claim what did not persist nor leave a staging file where people look. The
 * faults are injected by wrapping the real file operations (test/harness/faulty-ops.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { isHindsightError } from '../../../src/core/index.ts';
import { isStagingName } from '../../../src/sys/index.ts';
import { FaultyTreeOps } from '../../harness/faulty-ops.ts';
import { appliedSeq, change, type Fixture, openFixture, putChange, readTree, record } from './fixture.ts';

const isStaging = (p: string) => isStagingName(path.basename(p));

function stagingLeft(root: string): string[] {
  return fs
    .readdirSync(root, { recursive: true })
    .map(String)
    .filter((p) => isStaging(p));
}

describe('ViewApplier through a failing disk', () => {
  let fx: Fixture;
  let ops: FaultyTreeOps;
  afterEach(async () => {
    await fx.close();
  });

  it('a failed fsync of a staging file stops the view: nothing renamed into place, the position kept', async () => {
    ops = new FaultyTreeOps();
    fx = await openFixture({ ops });
    record(fx, [await putChange(fx, 'f', Buffer.from('old'))]);
    assert.equal(await fx.applier.applyPending(), 1);
    ops.fail({ call: 'fsync', path: isStaging, code: 'EIO', times: 1 });
    record(fx, [await putChange(fx, 'f', Buffer.from('new'))]);
    await assert.rejects(fx.applier.applyPending(), (e) => isHindsightError(e, 'E_APPLY_FSYNC'));
    assert.equal(ops.failed.length, 1, 'the fault was reached');
    assert.equal(fs.readFileSync(path.join(fx.root, 'f'), 'utf8'), 'old');
    assert.equal(appliedSeq(fx), 1);
    assert.deepEqual(stagingLeft(fx.root), []);
    assert.equal(fx.applier.isStopped, true);
    // Never retried and trusted: the fault is spent, yet the view stays stopped until a restart.
    await assert.rejects(fx.applier.applyPending(), (e) => isHindsightError(e, 'E_APPLY_FSYNC'));
    assert.equal(appliedSeq(fx), 1);
    assert.ok(fx.events.some((e) => e.type === 'apply.error' && e.data?.code === 'E_APPLY_FSYNC'));
  });

  it('a failed write is retried later; the position never passes the version that failed', async () => {
    ops = new FaultyTreeOps().fail({ call: 'writev', path: isStaging, code: 'EIO' });
    fx = await openFixture({ ops });
    record(fx, [
      await putChange(fx, 'a', Buffer.from('a')),
      change(fx, { path: 'd', kind: 'mkdir' }),
      await putChange(fx, 'd/b', Buffer.from('b')),
    ]);
    await assert.rejects(fx.applier.applyPending(), (e) => isHindsightError(e, 'E_APPLY_IO'));
    assert.equal(appliedSeq(fx), 0);
    assert.deepEqual(stagingLeft(fx.root), []);
    ops.heal();
    assert.equal(await fx.applier.applyPending(), 3);
    assert.equal(appliedSeq(fx), 3);
    assert.deepEqual(readTree(fx.root), {
      a: { type: 'file', mode: 0o644, content: 'a' },
      d: { type: 'dir', mode: 0o755 },
      'd/b': { type: 'file', mode: 0o644, content: 'b' },
    });
  });

  it('a failed rename leaves the old file and no staging file; a full disk on mkdir is retried', async () => {
    ops = new FaultyTreeOps();
    fx = await openFixture({ ops });
    record(fx, [await putChange(fx, 'f', Buffer.from('old'))]);
    await fx.applier.applyPending();
    ops.fail({ call: 'rename', path: (p) => p.endsWith('/f'), code: 'EIO', times: 1 });
    ops.fail({ call: 'mkdir', path: (p) => p.endsWith('/new'), code: 'ENOSPC', times: 1 });
    record(fx, [await putChange(fx, 'f', Buffer.from('new'))]);
    await assert.rejects(fx.applier.applyPending(), (e) => isHindsightError(e, 'E_APPLY_IO'));
    assert.equal(fs.readFileSync(path.join(fx.root, 'f'), 'utf8'), 'old');
    assert.deepEqual(stagingLeft(fx.root), []);
    assert.equal(appliedSeq(fx), 1);
    record(fx, [change(fx, { path: 'new', kind: 'mkdir' })]);
    await assert.rejects(fx.applier.applyPending(), (e) => isHindsightError(e, 'E_APPLY_IO'));
    assert.equal(appliedSeq(fx), 2, 'the put went through; the mkdir did not');
    assert.equal(await fx.applier.applyPending(), 1);
    assert.equal(appliedSeq(fx), 3);
    assert.equal(fs.readFileSync(path.join(fx.root, 'f'), 'utf8'), 'new');
    assert.ok(fs.statSync(path.join(fx.root, 'new')).isDirectory());
    assert.deepEqual(ops.failed.length, 2);
  });

  it('a failed fsync of a directory stops the view before its position moves', async () => {
    ops = new FaultyTreeOps().fail({ call: 'fsync', path: (p) => p === fx.root, code: 'EIO', times: 1 });
    fx = await openFixture({ ops });
    record(fx, [await putChange(fx, 'f', Buffer.from('x'))]);
    await assert.rejects(fx.applier.applyPending(), (e) => isHindsightError(e, 'E_APPLY_FSYNC'));
    assert.equal(appliedSeq(fx), 0);
    assert.equal(fx.applier.isStopped, true);
  });
});
