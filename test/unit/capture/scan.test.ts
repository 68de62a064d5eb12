import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { allChanges, type CaptureEnv, contentOf, makeEnv, makeScanner, summary } from './fixture.ts';

describe('Scanner', () => {
  let env: CaptureEnv;
  beforeEach(() => {
    env = makeEnv();
  });
  afterEach(() => env.cleanup());

  function build(): void {
    const r = env.root;
    mkdirSync(join(r, 'a/b/c'), { recursive: true });
    writeFileSync(join(r, 'a/b/c/deep.txt'), 'deep');
    writeFileSync(join(r, 'empty'), '');
    writeFileSync(join(r, 'with space ü.txt'), 'ünïcode body');
    writeFileSync(join(r, 'big.bin'), Buffer.alloc(300_000, 7));
    symlinkSync('../outside/target', join(r, 'link'));
    execFileSync('mkfifo', [join(r, 'fifo')]);
  }

  it('captures a mixed tree: dirs before their content, links verbatim, FIFOs skipped with an event', async () => {
    build();
    const report = await makeScanner(env).scan('test');
    const got = allChanges(env);
    assert.deepEqual(summary(got).sort(), [
      'mkdir a',
      'mkdir a/b',
      'mkdir a/b/c',
      'put a/b/c/deep.txt',
      'put big.bin',
      'put empty',
      'put with space ü.txt',
      'symlink link',
    ]);
    const order = summary(got);
    assert.ok(order.indexOf('mkdir a') < order.indexOf('mkdir a/b'));
    assert.ok(order.indexOf('mkdir a/b/c') < order.indexOf('put a/b/c/deep.txt'));
    const byPath = new Map(got.map((c) => [c.path, c]));
    assert.equal(byPath.get('link')?.target, '../outside/target');
    assert.equal(contentOf(env, byPath.get('with space ü.txt')!).toString(), 'ünïcode body');
    assert.equal(contentOf(env, byPath.get('big.bin')!).length, 300_000);
    assert.equal(byPath.get('empty')?.size, 0);
    assert.equal(contentOf(env, byPath.get('empty')!).length, 0);
    const skipped = env.events.ofType('capture.skipped');
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0].data?.path, 'fifo');
    assert.equal(report.changed, 8);
    assert.deepEqual(report.unstable, []);
  });

  it('records nothing on a second scan of an unchanged tree', async () => {
    build();
    await makeScanner(env).scan('first');
    const last = env.outbox.lastSeq(env.volume);
    const report = await makeScanner(env).scan('second');
    assert.equal(env.outbox.lastSeq(env.volume), last);
    assert.equal(report.changed, 0);
  });

  it('detects modify, delete, rename, type change and a removed tree (deepest first)', async () => {
    build();
    const scanner = makeScanner(env);
    await scanner.scan('first');
    const before = env.outbox.lastSeq(env.volume);
    writeFileSync(join(env.root, 'empty'), 'now with content');
    renameSync(join(env.root, 'with space ü.txt'), join(env.root, 'renamed.txt'));
    rmSync(join(env.root, 'a'), { recursive: true });
    rmSync(join(env.root, 'big.bin'));
    mkdirSync(join(env.root, 'big.bin'));
    rmSync(join(env.root, 'link'));
    writeFileSync(join(env.root, 'link'), 'file now');
    await scanner.scan('second');
    const got = summary(allChanges(env, before));
    assert.deepEqual([...got].sort(), [
      'delete a',
      'delete a/b',
      'delete a/b/c',
      'delete a/b/c/deep.txt',
      'delete big.bin',
      'delete link',
      'delete with space ü.txt',
      'mkdir big.bin',
      'put empty',
      'put link',
      'put renamed.txt',
    ]);
    assert.deepEqual(
      got.filter((s) => s.startsWith('delete a')),
      ['delete a/b/c/deep.txt', 'delete a/b/c', 'delete a/b', 'delete a'],
    );
    assert.ok(got.indexOf('delete big.bin') < got.indexOf('mkdir big.bin'));
    assert.ok(got.indexOf('delete link') < got.indexOf('put link'));
    const put = allChanges(env, before).find((c) => c.path === 'empty')!;
    assert.equal(contentOf(env, put).toString(), 'now with content');
    // The files table follows: nothing below the removed tree is left.
    const left = env.catalog.prepare("SELECT path FROM files WHERE path LIKE 'a%' ORDER BY path").all();
    assert.deepEqual(left, []);
  });

  it('does not capture excluded paths, and deletes what becomes excluded', async () => {
    mkdirSync(join(env.root, 'cache/sub'), { recursive: true });
    writeFileSync(join(env.root, 'cache/sub/x'), 'x');
    writeFileSync(join(env.root, 'keep.txt'), 'k');
    writeFileSync(join(env.root, 'drop.tmp'), 'd');
    await makeScanner(env, [], ['cache/', '*.tmp']).scan('first');
    assert.deepEqual(summary(allChanges(env)), ['put keep.txt']);

    await makeScanner(env, [], []).scan('no globs');
    const all = summary(allChanges(env));
    assert.ok(all.includes('put cache/sub/x') && all.includes('put drop.tmp'));
    const last = env.outbox.lastSeq(env.volume);
    await makeScanner(env, [], ['cache']).scan('exclude again');
    assert.deepEqual(summary(allChanges(env, last)), [
      'delete cache/sub/x',
      'delete cache/sub',
      'delete cache',
    ]);
  });

  it('takes only included files, still walking directories to reach them', async () => {
    mkdirSync(join(env.root, 'd'));
    writeFileSync(join(env.root, 'd/a.txt'), 'a');
    writeFileSync(join(env.root, 'd/a.bin'), 'b');
    await makeScanner(env, ['*.txt'], []).scan('first');
    assert.deepEqual(summary(allChanges(env)), ['mkdir d', 'put d/a.txt']);
  });

  it('ignores our own staging files', async () => {
    writeFileSync(join(env.root, '.hindsight-staging-x-1234'), 'partial');
    await makeScanner(env).scan('first');
    assert.deepEqual(summary(allChanges(env)), []);
  });
});
