/**
 * End-to-end topologies: one primary to two mirrors, one mirror node holding volumes of two
 * primaries, and a node that is primary of one volume and mirror of another.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { waitConverged, withCluster } from '../harness/cluster.ts';
import { createRng, makeTree, mutate, seedFromEnv } from '../harness/workload.ts';

test('one primary, two mirrors', { timeout: 300_000 }, async (t) => {
  const rng = createRng(seedFromEnv());
  await withCluster(t, ['alpha', 'beta', 'gamma'], async (cluster) => {
    const src = cluster.dir('src');
    await makeTree(src, { smallFiles: 80, mediumFiles: 2 }, rng);
    await cluster.addVolume('docs', {
      path: src,
      primary: 'alpha',
      mirrors: [
        { node: 'beta', dir: cluster.dir('beta-docs') },
        { node: 'gamma', dir: cluster.dir('gamma-docs') },
      ],
    });
    await waitConverged(src, cluster.dir('beta-docs'), { timeoutMs: 60_000 });
    await waitConverged(src, cluster.dir('gamma-docs'), { timeoutMs: 60_000 });
    // One mirror down does not hold the other back.
    await cluster.node('gamma').stop();
    await mutate(src, rng, 40);
    await waitConverged(src, cluster.dir('beta-docs'), { timeoutMs: 60_000 });
    await cluster.node('gamma').startAgent();
    await waitConverged(src, cluster.dir('gamma-docs'), { timeoutMs: 60_000 });
    const s = await cluster.node('alpha').status();
    assert.deepEqual(s.volumes[0].mirrors?.map((m) => m.node).sort(), ['beta', 'gamma']);
  });
});

test('one mirror node holds volumes of two primaries; a node is primary of one volume and mirror of another', {
  timeout: 300_000,
}, async (t) => {
  const rng = createRng(seedFromEnv());
  await withCluster(t, ['alpha', 'beta', 'gamma'], async (cluster) => {
    const [a, g] = [cluster.dir('alpha-data'), cluster.dir('gamma-data')];
    await makeTree(a, { smallFiles: 40, mediumFiles: 1 }, rng);
    await makeTree(g, { smallFiles: 40, mediumFiles: 1 }, rng);
    // Many to one: beta mirrors alpha's and gamma's volumes.
    await cluster.addVolume('accounts', {
      path: a,
      primary: 'alpha',
      mirrors: [{ node: 'beta', dir: cluster.dir('beta-accounts') }],
    });
    await cluster.addVolume('scans', {
      path: g,
      primary: 'gamma',
      mirrors: [{ node: 'beta', dir: cluster.dir('beta-scans') }],
    });
    // Active/active: beta is primary of its own volume, mirrored by alpha.
    const b = cluster.dir('beta-own');
    await makeTree(b, { smallFiles: 30 }, rng);
    await cluster.addVolume('mail', {
      path: b,
      primary: 'beta',
      mirrors: [{ node: 'alpha', dir: cluster.dir('alpha-mail') }],
    });
    await waitConverged(a, cluster.dir('beta-accounts'), { timeoutMs: 60_000 });
    await waitConverged(g, cluster.dir('beta-scans'), { timeoutMs: 60_000 });
    await waitConverged(b, cluster.dir('alpha-mail'), { timeoutMs: 60_000 });
    await writeFile(path.join(b, 'late.txt'), 'written on beta');
    await writeFile(path.join(a, 'late.txt'), 'written on alpha');
    await waitConverged(b, cluster.dir('alpha-mail'), { timeoutMs: 60_000 });
    await waitConverged(a, cluster.dir('beta-accounts'), { timeoutMs: 60_000 });
    const roles = (await cluster.node('beta').status()).volumes.map((v) => `${v.name}:${v.role}`).sort();
    assert.deepEqual(roles, ['accounts:mirror', 'mail:primary', 'scans:mirror']);
  });
});
