import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isStagingName } from '../../../src/sys/index.ts';
import { appliedSeq, change, type Fixture, openFixture, putChange, readTree, record } from './fixture.ts';

describe('ViewApplier', () => {
  let fx: Fixture;
  beforeEach(async () => {
    fx = await openFixture();
  });
  afterEach(async () => {
    await fx.close();
  });

  it('writes files of zero, one and several chunks with their mode and mtime', async () => {
    const big = randomBytes(300_000);
    record(fx, [
      await putChange(fx, 'empty', Buffer.alloc(0)),
      await putChange(fx, 'one', Buffer.from('x')),
      await putChange(fx, 'big', big, 64 * 1024, 0o600),
    ]);
    assert.equal(await fx.applier.applyPending(), 3);
    assert.equal(appliedSeq(fx), 3);
    assert.deepEqual(fs.readFileSync(path.join(fx.root, 'big')), big);
    assert.deepEqual(readTree(fx.root), {
      big: { type: 'file', mode: 0o600, content: big.toString('latin1') },
      empty: { type: 'file', mode: 0o644, content: '' },
      one: { type: 'file', mode: 0o644, content: 'x' },
    });
    assert.equal(fs.statSync(path.join(fx.root, 'one')).mtimeMs, 1_700_000_000_000);
    assert.deepEqual(fx.events, []);
    assert.equal(await fx.applier.applyPending(), 0);
  });

  it('makes directories, symlinks verbatim, and names with spaces and non-ASCII', async () => {
    record(fx, [
      change(fx, { path: 'dir ü', kind: 'mkdir', mode: 0o750 }),
      await putChange(fx, 'dir ü/file with spaces é.txt', Buffer.from('hello')),
      change(fx, { path: 'dangling', kind: 'symlink', target: 'no/such/file' }),
      change(fx, { path: 'absolute', kind: 'symlink', target: '/tmp/does-not-exist-ever' }),
      // A parent that has no mkdir version of its own yet is created on the way.
      await putChange(fx, 'deep/er/file', Buffer.from('d')),
    ]);
    await fx.applier.applyPending();
    assert.deepEqual(readTree(fx.root), {
      absolute: { type: 'link', target: '/tmp/does-not-exist-ever' },
      dangling: { type: 'link', target: 'no/such/file' },
      deep: { type: 'dir', mode: 0o755 },
      'deep/er': { type: 'dir', mode: 0o755 },
      'deep/er/file': { type: 'file', mode: 0o644, content: 'd' },
      'dir ü': { type: 'dir', mode: 0o750 },
      'dir ü/file with spaces é.txt': { type: 'file', mode: 0o644, content: 'hello' },
    });
  });

  it('deletes files and directories, changes modes, and tolerates missing paths', async () => {
    record(fx, [
      change(fx, { path: 'd', kind: 'mkdir' }),
      await putChange(fx, 'd/f', Buffer.from('1')),
      await putChange(fx, 'keep', Buffer.from('2')),
      change(fx, { path: 'l', kind: 'symlink', target: 'keep' }),
    ]);
    await fx.applier.applyPending();
    record(fx, [
      change(fx, { path: 'keep', kind: 'meta', mode: 0o600, mtimeMs: 1_600_000_000_000 }),
      change(fx, { path: 'd', kind: 'delete' }),
      change(fx, { path: 'l', kind: 'delete' }),
      change(fx, { path: 'never/was', kind: 'delete' }),
    ]);
    assert.equal(await fx.applier.applyPending(), 4);
    assert.deepEqual(readTree(fx.root), { keep: { type: 'file', mode: 0o600, content: '2' } });
    assert.equal(fs.statSync(path.join(fx.root, 'keep')).mtimeMs, 1_600_000_000_000);
    assert.deepEqual(fx.events, []);
  });

  it('replaces a directory by a file and a file by a directory', async () => {
    record(fx, [
      change(fx, { path: 'x', kind: 'mkdir' }),
      await putChange(fx, 'x/inner', Buffer.from('i')),
      await putChange(fx, 'y', Buffer.from('file')),
    ]);
    await fx.applier.applyPending();
    record(fx, [
      await putChange(fx, 'x', Buffer.from('now a file')),
      change(fx, { path: 'y', kind: 'mkdir' }),
    ]);
    await fx.applier.applyPending();
    assert.deepEqual(readTree(fx.root), {
      x: { type: 'file', mode: 0o644, content: 'now a file' },
      y: { type: 'dir', mode: 0o755 },
    });
  });

  it('re-applying from an earlier position gives the same tree', async () => {
    record(fx, [
      change(fx, { path: 'a', kind: 'mkdir' }),
      await putChange(fx, 'a/f', Buffer.from('v1')),
      change(fx, { path: 'b', kind: 'mkdir' }),
    ]);
    await fx.applier.applyPending();
    const crashedAt = appliedSeq(fx);
    record(fx, [
      await putChange(fx, 'a/f', Buffer.from('v2')),
      change(fx, { path: 'a/l', kind: 'symlink', target: 'f' }),
      await putChange(fx, 'b/g', Buffer.from('g')),
      change(fx, { path: 'b/g', kind: 'delete' }),
      change(fx, { path: 'b', kind: 'delete' }),
      // b turns into a symlink: a replay must not trip over it when it meets the put of b/g.
      change(fx, { path: 'b', kind: 'symlink', target: '/tmp' }),
      change(fx, { path: 'a/f', kind: 'meta', mode: 0o640 }),
    ]);
    await fx.applier.applyPending();
    const first = readTree(fx.root);
    assert.equal(first['a/f'].type === 'file' && first['a/f'].content, 'v2');
    assert.equal(first['a/f'].type === 'file' && first['a/f'].mode, 0o640);
    // As after a crash between the effects of a batch and its position.
    fx.catalog.prepare('UPDATE views SET applied_seq = ?').run(crashedAt);
    await fx.applier.applyPending();
    assert.deepEqual(readTree(fx.root), first);
    assert.deepEqual(fx.events, []);
    // One version at a time from 0 walks every intermediate state over the finished tree.
    fx.catalog.prepare('UPDATE views SET applied_seq = 0').run();
    while ((await fx.applier.applyPending(1)) > 0);
    assert.deepEqual(readTree(fx.root), first);
    assert.equal(appliedSeq(fx), fx.nextSeq - 1);
  });

  it('removes staging leftovers at start, also in subdirectories', async () => {
    record(fx, [change(fx, { path: 'sub', kind: 'mkdir' })]);
    await fx.applier.applyPending();
    fs.writeFileSync(path.join(fx.root, '.hindsight-staging-x-123'), 'partial');
    fs.writeFileSync(path.join(fx.root, 'sub', '.hindsight-staging-y-456'), 'partial');
    await fx.applier.start();
    assert.deepEqual(Object.keys(readTree(fx.root)), ['sub']);
  });

  it('leaves no staging files behind after a batch', async () => {
    record(fx, [
      await putChange(fx, 'f', Buffer.from('x')),
      change(fx, { path: 'l', kind: 'symlink', target: 'f' }),
    ]);
    await fx.applier.applyPending();
    assert.deepEqual(
      fs.readdirSync(fx.root).filter((n) => isStagingName(n)),
      [],
    );
  });

  it('applies nothing while held, and only what the delay lets through', async () => {
    const t0 = fx.clock.t;
    fx.catalog.prepare('UPDATE views SET held = 1').run();
    record(fx, [change(fx, { path: 'old', kind: 'mkdir' })], t0 - 120_000);
    assert.equal(await fx.applier.applyPending(), 0);
    fx.catalog.prepare('UPDATE views SET held = 0, delay_ms = 60000').run();
    record(fx, [change(fx, { path: 'new', kind: 'mkdir' })], t0 - 1000);
    record(fx, [change(fx, { path: 'newer', kind: 'mkdir' })], t0 - 2000);
    assert.equal(await fx.applier.applyPending(), 1);
    assert.deepEqual(Object.keys(readTree(fx.root)), ['old']);
    assert.equal(appliedSeq(fx), 1);
    fx.clock.t = t0 + 59_000;
    assert.equal(await fx.applier.applyPending(), 2);
    assert.deepEqual(Object.keys(readTree(fx.root)), ['new', 'newer', 'old']);
  });

  it('reports a missing chunk as an error and does not move past it', async () => {
    const good = await putChange(fx, 'good', Buffer.from('ok'));
    const bad = change(fx, { path: 'bad', kind: 'put', size: 3, chunks: Buffer.alloc(32, 1) });
    record(fx, [good, bad]);
    await assert.rejects(fx.applier.applyPending(), { code: 'E_APPLY_IO' });
    assert.equal(appliedSeq(fx), 1);
    assert.equal(fs.readFileSync(path.join(fx.root, 'good'), 'utf8'), 'ok');
    assert.deepEqual(
      fx.events.map((e) => [e.type, e.level, e.data?.seq]),
      [['apply.error', 'error', 2]],
    );
    assert.deepEqual(
      fs.readdirSync(fx.root).filter((n) => isStagingName(n)),
      [],
    );
  });

  it('does not claim a skipped version whose replacement failed', async () => {
    record(fx, [
      await putChange(fx, 'x', Buffer.from('old')),
      change(fx, { path: 'bad', kind: 'put', size: 3, chunks: Buffer.alloc(32, 1) }),
      await putChange(fx, 'x', Buffer.from('new')),
    ]);
    await assert.rejects(fx.applier.applyPending(), { code: 'E_APPLY_IO' });
    // Seq 1 was skipped in favour of seq 3, which was never reached: position 1 would be a lie.
    assert.equal(appliedSeq(fx), 0);
  });

  it("syncs the view's file system at start, before a re-apply can find a change already done", async () => {
    // Regression: a delete re-applied after a kill -9 found the file gone, fsynced nothing, and
    // moved the position past an unlink that was still only in the page cache.
    await fx.close();
    const synced: string[] = [];
    fx = await openFixture({
      syncFileSystem: async (dir) => {
        synced.push(dir);
      },
    });
    fs.writeFileSync(path.join(fx.root, 'gone'), 'x');
    fs.unlinkSync(path.join(fx.root, 'gone'));
    record(fx, [change(fx, { path: 'gone', kind: 'delete' })]);
    await fx.applier.start();
    assert.deepEqual(synced, [fx.root]);
    assert.equal(await fx.applier.applyPending(), 1);
    assert.deepEqual(synced, [fx.root], 'once per start');
  });

  it('starts with the real syncfs (coreutils sync -f) and reports no error', async () => {
    await fx.applier.start();
    assert.equal(fx.events.filter((e) => e.type === 'apply.error').length, 0);
  });
});
