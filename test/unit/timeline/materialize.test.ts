import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { NODE_FILE_OPS, syncfsReachesDisk, type TreeOps } from '../../../src/sys/index.ts';
import { applyStates, liveAt } from '../../../src/timeline/index.ts';
import { change, type Fixture, openFixture, putChange, readTree, record } from './fixture.ts';

describe('applyStates', () => {
  let fx: Fixture;
  let into: string;
  beforeEach(async () => {
    fx = await openFixture();
    into = path.join(fx.dir, 'into');
    fs.mkdirSync(into);
  });
  afterEach(async () => {
    await fx.close();
  });

  /** timeline records a small tree with nested folders, several files per folder and links. */
  async function timeline(): Promise<number> {
    const changes = [change(fx, { path: 'a', kind: 'mkdir', mode: 0o750 })];
    for (let d = 0; d < 3; d++) {
      changes.push(change(fx, { path: `a/d${d}`, kind: 'mkdir' }));
      for (let f = 0; f < 20; f++) {
        changes.push(await putChange(fx, `a/d${d}/f${f}`, Buffer.from(`file ${d}/${f}`), 4, 0o640));
      }
    }
    changes.push(change(fx, { path: 'a/link', kind: 'symlink', target: 'd0/f0' }));
    changes.push(await putChange(fx, 'top', Buffer.from('top level')));
    record(fx, changes);
    return changes.length;
  }

  it('writes the whole state at a seq into an empty directory (a preview)', async () => {
    const seq = await timeline();
    const done = await applyStates(fx.store, into, [], liveAt(fx.catalog, 'vol', seq), { fresh: true });
    assert.equal(done.written, seq);
    const tree = readTree(into);
    assert.equal(Object.keys(tree).length, seq);
    assert.deepEqual(tree['a/d2/f19'], { type: 'file', mode: 0o640, content: 'file 2/19' });
    assert.deepEqual(tree.a, { type: 'dir', mode: 0o750 });
    assert.deepEqual(tree['a/link'], { type: 'link', target: 'd0/f0' });
    assert.deepEqual(tree.top, { type: 'file', mode: 0o644, content: 'top level' });
  });

  it('turns a different tree into the state, removing what must go (a rewind)', async () => {
    const seq = await timeline();
    fs.mkdirSync(path.join(into, 'a/d1'), { recursive: true });
    fs.writeFileSync(path.join(into, 'a/d1/f3'), 'stale content');
    fs.mkdirSync(path.join(into, 'top')); // a directory where the state has a file
    fs.writeFileSync(path.join(into, 'top/inside'), 'goes with it');
    fs.writeFileSync(path.join(into, 'extra'), 'not in the state');
    const done = await applyStates(fx.store, into, ['extra', 'missing/too'], liveAt(fx.catalog, 'vol', seq));
    assert.equal(done.removed, 1);
    const expected = path.join(fx.dir, 'expected');
    fs.mkdirSync(expected);
    await applyStates(fx.store, expected, [], liveAt(fx.catalog, 'vol', seq), { fresh: true });
    assert.deepEqual(readTree(into), readTree(expected));
  });

  it('writes nothing through a link when a state holds a link and files beneath it', async () => {
    const outside = path.join(fx.dir, 'outside');
    fs.mkdirSync(outside);
    // A hostile primary can make both current: the link, then files "beneath" it.
    const changes = [change(fx, { path: 'evil', kind: 'symlink', target: outside })];
    for (let i = 0; i < 40; i++) changes.push(await putChange(fx, `evil/x${i}`, Buffer.from('pwned')));
    record(fx, changes);
    for (const fresh of [true, false]) {
      fs.rmSync(into, { recursive: true, force: true });
      fs.mkdirSync(into);
      await applyStates(fx.store, into, [], liveAt(fx.catalog, 'vol', changes.length), { fresh });
      assert.deepEqual(fs.readdirSync(outside), [], `fresh: ${fresh}`);
      assert.deepEqual(readTree(into), { evil: { type: 'link', target: outside } });
    }
  });

  it('makes a fresh tree durable with one sync of its file system after the last write, not an fsync per file', async () => {
    const seq = await timeline();
    const calls: string[] = [];
    const ops = recording(calls);
    await applyStates(fx.store, into, [], liveAt(fx.catalog, 'vol', seq), {
      fresh: true,
      groupCommit: true,
      ops,
      syncFileSystem: async (dir) => {
        calls.push(`syncfs ${dir}`);
      },
    });
    assert.equal(calls.filter((c) => c === 'fsync').length, 0, 'no fsync per file or directory');
    assert.deepEqual(
      calls.filter((c) => c.startsWith('syncfs')),
      [`syncfs ${into}`],
    );
    assert.equal(calls.at(-1), `syncfs ${into}`, 'the sync comes after every write, close and link');

    // A tree that replaces files (a restore), and a fresh tree on a file system whose syncfs
    // does not reach the disk (FUSE), still fsync each file and each changed directory.
    for (const options of [{}, { fresh: true, groupCommit: false }]) {
      const other = fs.mkdtempSync(path.join(fx.dir, 'other-'));
      calls.length = 0;
      await applyStates(fx.store, other, [], liveAt(fx.catalog, 'vol', seq), { ...options, ops });
      assert.ok(
        calls.filter((c) => c === 'fsync').length >= 61,
        `every file fsynced: ${JSON.stringify(options)}`,
      );
      assert.equal(calls.filter((c) => c.startsWith('syncfs')).length, 0);
    }
  });

  it('groups the commit of a fresh tree only where syncfs reaches the disk', async () => {
    // /dev/shm is a tmpfs on every Linux this runs on (containers included).
    if (fs.existsSync('/dev/shm')) assert.equal(await syncfsReachesDisk('/dev/shm'), true, 'tmpfs');
    assert.equal(await syncfsReachesDisk('/proc'), false, 'procfs');
    assert.equal(await syncfsReachesDisk(path.join(fx.dir, 'missing')), false, 'cannot be told');
  });

  it('fails a fresh tree whose file system cannot be synced', async () => {
    const seq = await timeline();
    const failing = async () => {
      throw Object.assign(new Error('EIO: sync failed'), { code: 'EIO' });
    };
    await assert.rejects(
      applyStates(fx.store, into, [], liveAt(fx.catalog, 'vol', seq), {
        fresh: true,
        groupCommit: true,
        syncFileSystem: failing,
      }),
      /EIO/,
    );
  });
});

/** recording is the real TreeOps that notes the name of every call in `calls`. */
function recording(calls: string[]): TreeOps {
  return new Proxy(NODE_FILE_OPS, {
    get(target, name: string) {
      const real = Reflect.get(target, name);
      if (typeof real !== 'function') return real;
      return (...args: unknown[]) => {
        calls.push(name);
        return real.apply(target, args);
      };
    },
  });
}
