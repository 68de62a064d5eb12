/**
 * Regression: an agent with a live link from a primary did not exit on SIGTERM (the inbound
 * link kept the process alive), so the harness had to SIGKILL it.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { waitConverged, withCluster } from '../harness/cluster.ts';

test('agents with live links in both directions stop cleanly on SIGTERM', { timeout: 120_000 }, async (t) => {
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    for (const [name, primary, mirror] of [
      ['one', 'alpha', 'beta'],
      ['two', 'beta', 'alpha'],
    ] as const) {
      const src = cluster.dir(`${name}-src`);
      await mkdir(src);
      await writeFile(path.join(src, 'f.txt'), name);
      await cluster.addVolume(name, {
        path: src,
        primary,
        mirrors: [{ node: mirror, dir: cluster.dir(`${name}-dst`) }],
      });
      await waitConverged(src, cluster.dir(`${name}-dst`), { timeoutMs: 30_000 });
    }
    for (const node of cluster.nodes) {
      await node.stop();
      assert.doesNotMatch(node.output(), /ignored SIGTERM/, `${node.name} had to be killed`);
      assert.match(node.output(), /"agent stopped"/, `${node.name} did not finish stopping`);
    }
  });
});
