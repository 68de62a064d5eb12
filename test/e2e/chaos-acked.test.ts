/**
 * Crashes against the oracle of acknowledged changes, CI tier (issue 5): the chaos workload
 * (every kind of file operation, awkward names, sparse and large files) runs on the primary in
 * rounds, and in each round one fault strikes at a random moment: kill -9 of the mirror, of the
 * primary, of both, or a crash point armed on a random step of the data path. After each mirror
 * restart its recovered position must cover everything the primary saw acknowledged; after each
 * round the acknowledged state is recorded; at the end every recorded state must come back from
 * the mirror's history, the view must equal the primary's tree with no staging file, the stores
 * must verify, and the agents must hold no more memory or descriptors than a bound.
 *
 * HINDSIGHT_CHAOS_ROUNDS sets the number of rounds (the extended tier runs more).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AckOracle } from '../harness/acks.ts';
import { chaosSeed, chaosSummary } from '../harness/chaos-report.ts';
import { ChaosWorkload } from '../harness/chaos-workload.ts';
import { waitConverged, withCluster } from '../harness/cluster.ts';
import { DATA_PATH_CRASH_POINTS } from '../harness/crash-points.ts';
import { assertBounded, resources } from '../harness/resources.ts';
import { explainNodes, type TestNode } from '../harness/test-node.ts';
import { stagingFilesIn } from '../harness/tree-hash.ts';
import { waitFor } from '../harness/wait.ts';
import { createRng, makeTree } from '../harness/workload.ts';

const ROUNDS = Number(process.env.HINDSIGHT_CHAOS_ROUNDS ?? 8);

type Fault = 'kill-mirror' | 'kill-primary' | 'kill-both' | 'crash-point';
const FAULTS: Fault[] = ['kill-mirror', 'kill-primary', 'kill-both', 'crash-point'];

test(`${ROUNDS} rounds of crashes under the chaos workload lose no acknowledged change`, {
  timeout: 300_000 + ROUNDS * 120_000,
}, async (t) => {
  const seed = chaosSeed(t, 'chaos-acked');
  const rng = createRng(seed);
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const [alpha, beta] = [cluster.node('alpha'), cluster.node('beta')];
    const src = cluster.dir('src');
    const view = cluster.dir('view');
    mkdirSync(src);
    await makeTree(src, { smallFiles: 30, mediumFiles: 1, mediumBytes: 300_000, depth: 5 }, rng);
    await cluster.addVolume('docs', { path: src, primary: 'alpha', mirrors: [{ node: 'beta', dir: view }] });
    const oracle = new AckOracle(cluster, 'docs', 'alpha', 'beta');
    await oracle.checkpoint(src, view);
    const baseline = { alpha: resources(alpha), beta: resources(beta) };
    const workload = new ChaosWorkload(src, rng);
    const counts: Record<string, number> = {};
    let ops = 0;

    for (let round = 0; round < ROUNDS; round++) {
      const fault = rng.pick(FAULTS);
      counts[fault] = (counts[fault] ?? 0) + 1;
      const what = `round ${round} (${fault}, seed ${seed})`;
      if (fault === 'crash-point') {
        const [point, victim] = rng.pick(DATA_PATH_CRASH_POINTS);
        const node = cluster.node(victim);
        await node.stop();
        node.env.HINDSIGHT_CRASH_AT = point;
        await node.startAgent();
        ops += (await workload.run(rng.int(15, 40))).length;
        const isReached = await waitFor(() => !node.isRunning, {
          timeoutMs: 20_000,
          what: `${victim} to reach ${point}`,
        }).then(
          () => true,
          () => false,
        );
        // Not every round's operations lead through every step: then it is a plain kill -9.
        if (!isReached) await node.kill();
        const counted = `${point} ${isReached ? 'reached' : 'not reached'}`;
        counts[counted] = (counts[counted] ?? 0) + 1;
        delete node.env.HINDSIGHT_CRASH_AT;
        if (victim === 'beta') await oracle.killMirror();
        else await alpha.startAgent();
      } else {
        const running = workload.run(rng.int(15, 40));
        await sleep(rng.int(0, 1500));
        if (fault === 'kill-mirror') await oracle.killMirror();
        else if (fault === 'kill-both') await oracle.killBoth();
        else {
          await alpha.kill();
          await sleep(rng.int(0, 1000));
          await alpha.startAgent();
        }
        ops += (await running).length;
      }
      await oracle.checkpoint(src, view).catch((err: Error) => {
        throw new Error(`${what}: ${err.message}`, { cause: err });
      });
    }

    await oracle.verifyMoments();
    await waitConverged(src, view, { explain: explainNodes(alpha, beta) });
    const staging = stagingFilesIn(view);
    assert.deepEqual(staging, [], 'no staging file is left in the view');
    for (const node of [alpha, beta] as TestNode[]) await node.cliOk(['verify']);
    assertBounded(alpha, baseline.alpha, 'after every round');
    assertBounded(beta, baseline.beta, 'after every round');
    const summary = `${ROUNDS} rounds, ${ops} operations, ${oracle.moments.length} acknowledged moments previewed, ${oracle.positionChecks} mirror recoveries checked; faults ${JSON.stringify(counts)}`;
    chaosSummary(t, 'chaos-acked', summary);
  });
});
