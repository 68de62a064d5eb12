/**
 * End-to-end recovery: kill -9 of either agent during a storm of changes, and a mirror that is
 * down for a while, never lose an acknowledged change and always converge.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Cluster, waitConverged, withCluster } from '../harness/cluster.ts';
import { stagingFilesIn } from '../harness/tree-hash.ts';
import { createRng, makeTree, mutate, type Rng, seedFromEnv, type TreeSpec } from '../harness/workload.ts';

const KILL_ROUNDS = Number(process.env.HINDSIGHT_TEST_KILL_ROUNDS ?? 6);
/** How long the mirror stays down while the primary keeps changing (CI: a few seconds). */
const OUTAGE_MS = Number(process.env.HINDSIGHT_TEST_OUTAGE_S ?? 3) * 1000;

async function ackedSeq(cluster: Cluster): Promise<number> {
  const s = await cluster.node('alpha').status();
  return s.volumes[0]?.mirrors?.[0]?.ackedSeq ?? 0;
}

async function receivedSeq(cluster: Cluster): Promise<number> {
  const s = await cluster.node('beta').status();
  return s.volumes[0]?.receivedSeq ?? 0;
}

/** mirroredTree makes a seeded tree, adds it as volume docs (alpha → beta) and waits until it is mirrored. */
async function mirroredTree(
  cluster: Cluster,
  rng: Rng,
  spec: TreeSpec,
): Promise<{ src: string; dst: string }> {
  const src = cluster.dir('src');
  const dst = cluster.dir('dst');
  await makeTree(src, spec, rng);
  await cluster.addVolume('docs', { path: src, primary: 'alpha', mirrors: [{ node: 'beta', dir: dst }] });
  await waitConverged(src, dst, { timeoutMs: 120_000 });
  return { src, dst };
}

test('kill -9 of either agent during a change storm loses no acknowledged change', {
  timeout: 600_000,
}, async (t) => {
  const seed = seedFromEnv();
  t.diagnostic(`seed ${seed}`);
  const rng = createRng(seed);
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const { src, dst } = await mirroredTree(cluster, rng, {
      smallFiles: 300,
      mediumFiles: 4,
      mediumBytes: 2 * 1024 * 1024,
    });
    for (let round = 0; round < KILL_ROUNDS; round++) {
      const victim = cluster.node(rng.int(0, 2) === 0 ? 'alpha' : 'beta');
      const storm = mutate(src, rng, 60);
      await sleep(rng.int(20, 400));
      const ackedBefore = await ackedSeq(cluster).catch(() => 0);
      await victim.kill('SIGKILL');
      await storm;
      await sleep(rng.int(0, 500));
      await victim.startAgent();
      // Durability of acknowledgements: whatever the primary had acknowledged is still received.
      assert.ok(
        (await receivedSeq(cluster)) >= ackedBefore,
        `round ${round}: mirror lost acknowledged changes`,
      );
      t.diagnostic(`round ${round}: killed ${victim.name} at acked seq ${ackedBefore}`);
    }
    await waitConverged(src, dst, { timeoutMs: 120_000 });
    assert.deepEqual(stagingFilesIn(dst), []);
    const verify = await cluster.node('beta').cli(['verify']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });
});

test('a mirror that is down while the primary keeps changing catches up', {
  timeout: 600_000 + OUTAGE_MS,
}, async (t) => {
  const seed = seedFromEnv();
  t.diagnostic(`seed ${seed}`);
  const rng = createRng(seed);
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const { src, dst } = await mirroredTree(cluster, rng, { smallFiles: 100 });
    await cluster.node('beta').stop();
    const until = Date.now() + OUTAGE_MS;
    for (let i = 0; Date.now() < until || i < 3; i++) {
      await mutate(src, rng, 50);
      await sleep(300);
    }
    const down = await cluster.node('alpha').status();
    assert.ok((down.volumes[0].mirrors?.[0]?.lagChanges ?? 0) > 0, 'the primary reports the mirror behind');
    assert.equal(down.volumes[0].mirrors?.[0]?.link, 'disconnected');
    await cluster.node('beta').startAgent();
    await waitConverged(src, dst, { timeoutMs: 120_000 });
    await cluster.waitCaughtUp('docs', 'alpha', 'beta');
  });
});

test('a primary restarted after changes made while it was down sends them', {
  timeout: 300_000,
}, async (t) => {
  const rng = createRng(seedFromEnv());
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const { src, dst } = await mirroredTree(cluster, rng, { smallFiles: 50 });
    await cluster.node('alpha').kill('SIGKILL');
    await mutate(src, rng, 80);
    await cluster.node('alpha').startAgent();
    await waitConverged(src, dst, { timeoutMs: 60_000 });
  });
});
