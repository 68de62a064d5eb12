import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { chmod, mkdir, rename, rm, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { diffListings, treeHash, treeListing } from '../../harness/tree-hash.ts';
import { createRng, makeTree } from '../../harness/workload.ts';

describe('treeHash', () => {
  let tmp: string;
  let a: string;
  let b: string;

  beforeEach(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'hindsight-treehash-'));
    a = path.join(tmp, 'a');
    b = path.join(tmp, 'b');
    await makeTree(a, { mediumFiles: 1, mediumBytes: 2 * 1024 * 1024, smallFiles: 10 }, createRng(7));
    // cp -a keeps directory modes and link targets as they are, like a mirror must.
    execFileSync('cp', ['-a', a, b]);
  });

  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('gives equal hashes for equal trees, whatever their timestamps', async () => {
    await utimes(path.join(b, 'edge/one-byte.bin'), new Date(0), new Date(0));
    assert.equal(await treeHash(a), await treeHash(b));
  });

  it('sees a changed byte, a changed mode, a truncation, a rename, a new empty dir and a link target', async () => {
    const base = await treeHash(a);
    const changes: [string, () => Promise<void>][] = [
      ['byte', () => writeFile(path.join(a, 'edge/one-byte.bin'), 'Z')],
      ['mode', () => chmod(path.join(a, 'edge/run.sh'), 0o744)],
      ['truncate', () => truncate(path.join(a, 'medium/m-0.bin'), 10)],
      ['rename', () => rename(path.join(a, 'edge/private.key'), path.join(a, 'edge/private.key2'))],
      ['empty dir', () => mkdir(path.join(a, 'new-empty'))],
      [
        'link target',
        async () => {
          await rm(path.join(a, 'links/dangling'));
          await symlink('elsewhere', path.join(a, 'links/dangling'));
        },
      ],
    ];
    const seen = new Set([base]);
    for (const [what, change] of changes) {
      await change();
      const h = await treeHash(a);
      assert.ok(!seen.has(h), `hash did not change after: ${what}`);
      seen.add(h);
    }
  });

  it('hashes the same content under different names differently', async () => {
    const x = path.join(tmp, 'x');
    const y = path.join(tmp, 'y');
    await mkdir(x);
    await mkdir(y);
    await writeFile(path.join(x, 'one'), 'same');
    await writeFile(path.join(y, 'two'), 'same');
    assert.notEqual(await treeHash(x), await treeHash(y));
  });

  it('leaves out what exclude names, with its subtree', async () => {
    await mkdir(path.join(b, '.hindsight/tmp'), { recursive: true });
    await writeFile(path.join(b, '.hindsight/tmp/staging'), 'x');
    assert.notEqual(await treeHash(a), await treeHash(b));
    const exclude = (rel: string) => rel === '.hindsight';
    assert.equal(await treeHash(a, { exclude }), await treeHash(b, { exclude }));
  });

  it('lists records sorted by path, with links unfollowed and a readable diff', async () => {
    const listing = await treeListing(a);
    const paths = listing.map((r) => r.path);
    assert.deepEqual(paths, [...paths].sort());
    const link = listing.find((r) => r.path === 'links/dangling');
    assert.deepEqual(link, {
      path: 'links/dangling',
      type: 'symlink',
      mode: 0,
      size: 0,
      hash: '',
      target: 'no/such/target',
    });
    const key = listing.find((r) => r.path === 'edge/private.key');
    assert.equal(key?.mode, 0o600);
    assert.ok(
      listing.some((r) => r.path.split('/').length > 20),
      'a path deeper than 20 levels',
    );
    assert.ok(listing.some((r) => r.path.includes('日本') && r.type === 'file'));

    await writeFile(path.join(b, 'edge/one-byte.bin'), 'Q');
    await rm(path.join(b, 'edge/empty.bin'));
    await writeFile(path.join(b, 'extra.txt'), '');
    const diff = diffListings(listing, await treeListing(b));
    assert.match(diff, /^- "edge\/empty\.bin" file/m);
    assert.match(diff, /^~ "edge\/one-byte\.bin"/m);
    assert.match(diff, /^\+ "extra\.txt" file/m);
    assert.equal(diffListings(listing, listing), '');
  });
});
