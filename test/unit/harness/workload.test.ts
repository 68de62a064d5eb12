import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { hashFile, treeHash, treeListing } from '../../harness/tree-hash.ts';
import { createRng, makeTree, modifyScattered, mutate, writeRandomFile } from '../../harness/workload.ts';

describe('workload', () => {
  let tmp: string;

  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'hindsight-workload-'));
  });

  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('generates the same numbers and bytes for the same seed, others for another', () => {
    const [x, y, z] = [createRng(42), createRng(42), createRng(43)];
    const seq = (r: typeof x) => [r.next(), r.int(0, 1000), r.bytes(64).toString('hex')];
    const sx = seq(x);
    assert.deepEqual(sx, seq(y));
    assert.notDeepEqual(sx, seq(z));
    const ints = Array.from({ length: 1000 }, () => x.int(3, 5));
    assert.deepEqual([...new Set(ints)].sort(), [3, 4, 5]);
  });

  it('makes a reproducible tree of every entry kind, with exact sizes and modes', async () => {
    const spec = {
      smallFiles: 5,
      mediumFiles: 1,
      mediumBytes: 1024 * 1024,
      largeFileBytes: 9 * 1024 * 1024 + 3,
    };
    // Absolute link targets name the tree's own path, so compare two trees made at one path.
    const dir = path.join(tmp, 'tree');
    const summary = await makeTree(dir, spec, createRng(1));
    const first = await treeHash(dir);
    rmSync(dir, { recursive: true });
    await makeTree(dir, spec, createRng(1));
    assert.equal(await treeHash(dir), first);

    const listing = await treeListing(dir);
    const byPath = new Map(listing.map((r) => [r.path, r]));
    assert.equal(byPath.get('large/large.bin')?.size, spec.largeFileBytes);
    assert.equal(byPath.get('edge/empty.bin')?.size, 0);
    assert.equal(byPath.get('edge/one-byte.bin')?.size, 1);
    assert.equal(byPath.get('edge/private.key')?.mode, 0o600);
    assert.equal(byPath.get('edge/run.sh')?.mode, 0o755);
    assert.equal(byPath.get('edge/group-read.cfg')?.mode, 0o640);
    assert.equal(byPath.get('links/absolute')?.target, path.join(dir, 'edge/empty.bin'));
    assert.equal(summary.files, listing.filter((r) => r.type === 'file').length);
    assert.equal(summary.symlinks, 4);
  });

  it('writes random files whose blocks are not repeated', async () => {
    const file = path.join(tmp, 'r.bin');
    await writeRandomFile(file, 8 * 1024 * 1024, createRng(5));
    const data = await readFile(file);
    assert.equal(data.length, 8 * 1024 * 1024);
    assert.notDeepEqual(data.subarray(0, 4096), data.subarray(4 * 1024 * 1024, 4 * 1024 * 1024 + 4096));
  });

  it('modifies the requested share of a file in place, block aligned', async () => {
    const file = path.join(tmp, 'big.bin');
    await writeRandomFile(file, 4 * 1024 * 1024, createRng(9));
    const before = await readFile(file);
    const written = await modifyScattered(file, createRng(10), 0.01);
    const after = await readFile(file);
    assert.equal(after.length, before.length);
    let changedBlocks = 0;
    for (let off = 0; off < before.length; off += 4096) {
      if (!before.subarray(off, off + 4096).equals(after.subarray(off, off + 4096))) changedBlocks++;
    }
    assert.equal(written, 10 * 4096);
    assert.equal(changedBlocks, 10);
  });

  it('mutates a tree with reproducible edits of many kinds', async () => {
    const run = async (dir: string) => {
      await makeTree(dir, { smallFiles: 10, mediumFiles: 0, symlinks: false }, createRng(3));
      return mutate(dir, createRng(4), 200);
    };
    const d1 = path.join(tmp, 'm1');
    const d2 = path.join(tmp, 'm2');
    const ops = await run(d1);
    assert.deepEqual(await run(d2), ops);
    assert.equal(await treeHash(d1), await treeHash(d2));
    const kinds = new Set(ops.map((o) => o.kind));
    for (const k of [
      'overwrite',
      'append',
      'truncate',
      'rename-file',
      'rename-dir',
      'delete-file',
      'mkdir',
      'chmod',
    ]) {
      assert.ok(kinds.has(k as never), `no ${k} in 200 edits`);
    }
    assert.ok((await stat(d1)).isDirectory());
    assert.equal(
      typeof (await hashFile(path.join(d1, (await treeListing(d1)).find((r) => r.type === 'file')!.path))),
      'string',
    );
  });
});
