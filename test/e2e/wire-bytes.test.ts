/**
 * Regression: the bytes a primary reports as sent are the bytes of its own frames. Serving
 * several chunk requests at once used to count each other's frames too (a 256 MiB file was
 * reported as 795 MB sent).
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { waitConverged, withCluster } from '../harness/cluster.ts';
import { createRng, seedFromEnv, writeRandomFile } from '../harness/workload.ts';

const MIB = 1024 * 1024;

test('bytes sent for an incompressible file are about its size', { timeout: 180_000 }, async (t) => {
  const rng = createRng(seedFromEnv());
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const src = cluster.dir('src');
    await mkdir(src);
    await writeRandomFile(path.join(src, 'random.bin'), 64 * MIB, rng);
    await cluster.addVolume('docs', {
      path: src,
      primary: 'alpha',
      mirrors: [{ node: 'beta', dir: cluster.dir('dst') }],
    });
    await waitConverged(src, cluster.dir('dst'), { timeoutMs: 120_000 });
    const sent = (await cluster.node('alpha').status()).volumes[0].mirrors?.[0]?.bytesSent ?? 0;
    const received = (await cluster.node('beta').status()).volumes[0].bytesReceived ?? 0;
    t.diagnostic(`sent ${sent}, received ${received}`);
    assert.ok(sent >= 64 * MIB && sent < 64 * MIB * 1.02, `sent ${sent} bytes for a 64 MiB file`);
  });
});
