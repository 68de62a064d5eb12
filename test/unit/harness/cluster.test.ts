import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { type Cluster, explainNodes, waitConverged, withCluster } from '../../harness/cluster.ts';
import { createRng, makeTree, mutate } from '../../harness/workload.ts';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('withCluster', () => {
  it('starts real agents, mirrors a mixed tree through a storm, and tears everything down', async (t) => {
    let seen: { baseDir: string; pids: number[] } | undefined;
    await withCluster(t, ['alpha', 'beta'], async (cluster: Cluster) => {
      const [alpha, beta] = cluster.nodes;
      assert.ok(alpha.peer && beta.peer, 'both agents logged their peer address');
      const src = cluster.dir('src');
      const view = cluster.dir('view');
      const rng = createRng(11);
      await makeTree(src, { smallFiles: 30, mediumFiles: 1 }, rng);
      await cluster.addVolume('docs', {
        path: src,
        primary: 'alpha',
        mirrors: [{ node: 'beta', dir: view }],
      });
      await waitConverged(src, view, { timeoutMs: 60_000 });
      await cluster.waitCaughtUp('docs', 'alpha', 'beta', { timeoutMs: 60_000 });

      await mutate(src, rng, 40);
      await waitConverged(src, view, { timeoutMs: 60_000 });

      // A convergence that fails says where each node stands, not only how the trees differ.
      const empty = cluster.dir('empty');
      mkdirSync(empty);
      await assert.rejects(
        waitConverged(src, empty, { timeoutMs: 300, explain: explainNodes(alpha, beta) }),
        (err: Error) => {
          assert.match(err.message, /state when it gave up:\n--- alpha \(running\) ---\ndocs primary active/);
          assert.match(err.message, /beta acked \d+ link connected/);
          assert.match(
            err.message,
            /--- beta \(running\) ---\ndocs mirror active epoch 1: from alpha received \d+ applied \d+/,
          );
          assert.match(err.message, /differences \(primary → mirror\):\n- /);
          return true;
        },
      );

      const status = await alpha.status();
      assert.equal(status.node, 'alpha');
      assert.equal(status.volumes.find((v) => v.name === 'docs')?.role, 'primary');
      seen = { baseDir: cluster.baseDir, pids: cluster.nodes.map((n) => n.pid!) };
    });
    assert.ok(seen, 'the test body ran');
    assert.equal(existsSync(seen.baseDir), false, 'the base directory is removed');
    for (const pid of seen.pids) assert.equal(isAlive(pid), false, `agent ${pid} is gone`);
  });

  it('reports a failing body, with the agents killed all the same', async (t) => {
    let pids: number[] = [];
    await assert.rejects(
      withCluster(t, ['solo'], async (cluster) => {
        pids = cluster.nodes.map((n) => n.pid!);
        throw new Error('body failed');
      }),
      /body failed/,
    );
    assert.equal(pids.length, 1);
    for (const pid of pids) assert.equal(isAlive(pid), false);
  });
});
