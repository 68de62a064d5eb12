/**
 * kill -9 at the named steps of the data path (HINDSIGHT_CRASH_AT): capture, the link, the
 * outbox's acknowledgement, receipt, apply and its position. After a restart the mirror
 * converges to the primary's tree, with no staging file left in it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { waitConverged, withCluster } from '../harness/cluster.ts';
import { DATA_PATH_CRASH_POINTS } from '../harness/crash-points.ts';
import { stagingFilesIn } from '../harness/tree-hash.ts';
import { waitFor } from '../harness/wait.ts';

for (const [point, victim] of DATA_PATH_CRASH_POINTS) {
  test(`kill -9 of ${victim} at ${point}: converges after a restart`, { timeout: 120_000 }, async (t) => {
    await withCluster(t, ['alpha', 'beta'], async (cluster) => {
      const src = cluster.dir('src');
      const dst = cluster.dir('dst');
      mkdirSync(src);
      writeFileSync(path.join(src, 'before.bin'), randomBytes(64 * 1024));
      await cluster.addVolume('docs', { path: src, primary: 'alpha', mirrors: [{ node: 'beta', dir: dst }] });
      await waitConverged(src, dst, { timeoutMs: 60_000 });

      const node = cluster.node(victim);
      await node.stop();
      node.env.HINDSIGHT_CRASH_AT = point;
      await node.startAgent();
      // Changes of every kind, so each step of the path has work to do.
      mkdirSync(path.join(src, 'd'));
      for (let i = 0; i < 20; i++)
        writeFileSync(path.join(src, 'd', `f${i}.bin`), randomBytes(16 * 1024 + i));
      writeFileSync(path.join(src, 'before.bin'), randomBytes(1000));
      await waitFor(() => !node.isRunning, {
        timeoutMs: 60_000,
        what: `${victim} killed itself at ${point}`,
      });
      delete node.env.HINDSIGHT_CRASH_AT;
      await node.startAgent();
      await waitConverged(src, dst, { timeoutMs: 60_000 });
      // The tree can match while the mirror still re-applies what it had not recorded as done:
      // staging files are judged once its position has caught up.
      await cluster.waitCaughtUp('docs', 'alpha', 'beta');
      assert.deepEqual(stagingFilesIn(dst), [], 'no staging file is left in the view');
    });
  });
}
