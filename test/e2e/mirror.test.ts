/**
 * End-to-end: real agents on loopback mirror a mixed tree, and every kind of edit converges.
 * HINDSIGHT_TEST_LARGE_MB sets the size of the large file (default 1024, as the issue asks).
 */
import assert from 'node:assert/strict';
import { appendFile, chmod, mkdir, rename, rm, rmdir, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { waitConverged, withCluster } from '../harness/cluster.ts';
import { createRng, makeTree, seedFromEnv } from '../harness/workload.ts';

const LARGE_MB = Number(process.env.HINDSIGHT_TEST_LARGE_MB ?? 1024);

test('a mixed tree is mirrored byte for byte, and every kind of edit converges', {
  timeout: 600_000,
}, async (t) => {
  const seed = seedFromEnv();
  t.diagnostic(`seed ${seed}`);
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const src = cluster.dir('src');
    const dst = cluster.dir('dst');
    const summary = await makeTree(
      src,
      { smallFiles: 200, mediumFiles: 3, largeFileBytes: LARGE_MB * 1024 * 1024 },
      createRng(seed),
    );
    t.diagnostic(`tree: ${JSON.stringify(summary)}`);
    await cluster.addVolume('docs', { path: src, primary: 'alpha', mirrors: [{ node: 'beta', dir: dst }] });
    await waitConverged(src, dst, { timeoutMs: 300_000 });

    // Every kind of change, then convergence again.
    await mkdir(path.join(src, 'new', 'deeper'), { recursive: true });
    await writeFile(path.join(src, 'new', 'deeper', 'fresh.txt'), 'fresh\n');
    await appendFile(path.join(src, 'edge', 'one-byte.bin'), 'appended');
    await writeFile(path.join(src, 'edge', 'empty.bin'), 'no longer empty');
    await truncate(path.join(src, 'edge', 'one-byte.bin'), 3);
    await chmod(path.join(src, 'edge', 'one-byte.bin'), 0o600);
    await rename(path.join(src, 'new', 'deeper', 'fresh.txt'), path.join(src, 'new', 'renamed.txt'));
    await rmdir(path.join(src, 'new', 'deeper'));
    await mkdir(path.join(src, 'to-go'));
    await writeFile(path.join(src, 'to-go', 'x'), 'x');
    await waitConverged(src, dst, { timeoutMs: 60_000 });
    await rm(path.join(src, 'to-go'), { recursive: true });
    const dirs = await import('node:fs/promises').then((f) => f.readdir(src));
    const aDir = dirs.find((d) => d.startsWith('dir-')) ?? 'edge';
    await rename(path.join(src, aDir), path.join(src, `${aDir}-moved`));
    await waitConverged(src, dst, { timeoutMs: 60_000 });

    const status = await cluster.node('alpha').status();
    const mirror = status.volumes[0].mirrors?.[0];
    assert.equal(mirror?.lagChanges, 0);
    assert.equal(mirror?.link, 'connected');
  });
});
