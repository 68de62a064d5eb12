/**
 * Network faults, CI tier (issue 5): primary and mirror in network namespaces while a seeded
 * workload changes the tree. Each fault is held for a while and removed; then the mirror must
 * converge to the primary's tree, the agents must not have grown in memory or descriptors
 * beyond a bound, and the fault must have raised its alert where one is expected.
 * Faults: 30 % loss both ways, a one-way partition, a storm of TCP resets, a 10 Mbit/s
 * bottleneck under a burst (with the lag reported while it lasts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab, needLab } from '../harness/netns.ts';
import { assertBounded, resources } from '../harness/resources.ts';
import { findVolume } from '../harness/status-json.ts';
import { explainNodes, startNode, type TestNode } from '../harness/test-node.ts';
import { waitConverged, waitFor } from '../harness/wait.ts';
import { createRng, makeTree, mutate, type Rng, seedFromEnv } from '../harness/workload.ts';

interface Scene {
  lab: Lab;
  alpha: TestNode;
  beta: TestNode;
  src: string;
  dst: string;
  rng: Rng;
  eventsOf: (node: TestNode, type: string) => Promise<number>;
}

/** withScene builds alpha (primary) and beta (mirror) in a lab, mirrors a seeded tree, and runs `fn`. */
async function withScene(t: TestContext, fn: (s: Scene) => Promise<void>): Promise<void> {
  if (!(await needLab(t))) return;
  const seed = seedFromEnv();
  t.diagnostic(`seed ${seed} (HINDSIGHT_SEED to repeat)`);
  const rng = createRng(seed);
  const lab = await Lab.create(['alpha', 'beta']);
  const baseDir = mkdtempSync(path.join(os.tmpdir(), 'hindsight-chaos-'));
  const nodes: TestNode[] = [];
  let failed = true;
  try {
    const alpha = await startNode({
      name: 'alpha',
      baseDir,
      listen: `${lab.ip('alpha')}:7420`,
      wrap: lab.wrap('alpha'),
    });
    nodes.push(alpha);
    const beta = await startNode({
      name: 'beta',
      baseDir,
      listen: `${lab.ip('beta')}:7420`,
      join: alpha,
      wrap: lab.wrap('beta'),
    });
    nodes.push(beta);
    const src = path.join(baseDir, 'src');
    const dst = path.join(baseDir, 'dst');
    await makeTree(src, { smallFiles: 60, mediumFiles: 2, mediumBytes: 1024 * 1024 }, rng);
    await alpha.addVolume('docs', { path: src, mirrors: [{ node: 'beta', dir: dst }] });
    await waitConverged(src, dst, { timeoutMs: 120_000, explain: explainNodes(alpha, beta) });
    const eventsOf = async (n: TestNode, type: string) =>
      (await n.cliOk(['events', '--json'])).split('\n').filter((l) => l.includes(`"${type}"`)).length;
    await fn({ lab, alpha, beta, src, dst, rng, eventsOf });
    for (const n of nodes) n.assertCleanOutput();
    failed = false;
  } finally {
    if (failed) {
      t.diagnostic(`scene dir: ${baseDir}`);
      for (const n of nodes) t.diagnostic(`--- ${n.name} ---\n${n.tail(30)}`);
    }
    await Promise.all(nodes.map((n) => n.close()));
    await lab.destroy();
    if (!failed) rmSync(baseDir, { recursive: true, force: true });
  }
}

/**
 * underFault injects a fault, keeps the workload going for `holdMs`, checks `during` (an alert,
 * the lag), removes the fault, and checks convergence and the resource bounds.
 */
async function underFault(
  s: Scene,
  fault: { inject: () => Promise<void>; remove: () => Promise<void>; holdMs: number },
  during: () => Promise<void> = async () => {},
): Promise<void> {
  const before = [resources(s.alpha), resources(s.beta)];
  await fault.inject();
  const until = Date.now() + fault.holdMs;
  while (Date.now() < until) {
    await mutate(s.src, s.rng, 20);
    await sleep(400);
  }
  await during();
  await fault.remove();
  await waitConverged(s.src, s.dst, { timeoutMs: 180_000, explain: explainNodes(s.alpha, s.beta) });
  assertBounded(s.alpha, before[0], 'after the fault');
  assertBounded(s.beta, before[1], 'after the fault');
}

test('30 % packet loss both ways: the mirror converges', { timeout: 300_000 }, async (t) => {
  await withScene(t, async (s) => {
    await underFault(s, {
      inject: async () => {
        await s.lab.loss('alpha', 'beta', 30);
        await s.lab.loss('beta', 'alpha', 30);
      },
      remove: () => s.lab.heal(),
      holdMs: 10_000,
    });
  });
});

test('a one-way partition: the link is declared lost, then resumes from the acknowledged position', {
  timeout: 300_000,
}, async (t) => {
  await withScene(t, async (s) => {
    const lostBefore =
      (await s.eventsOf(s.alpha, 'link.disconnected')) + (await s.eventsOf(s.beta, 'link.disconnected'));
    await underFault(
      s,
      { inject: () => s.lab.oneWay('alpha', 'beta'), remove: () => s.lab.heal(), holdMs: 20_000 },
      async () => {
        await waitFor(
          async () =>
            (await s.eventsOf(s.alpha, 'link.disconnected')) +
              (await s.eventsOf(s.beta, 'link.disconnected')) >
            lostBefore,
          { timeoutMs: 60_000, what: 'a link.disconnected alert' },
        );
      },
    );
  });
});

test('a storm of TCP resets: alerts, reconnects, converges', { timeout: 300_000 }, async (t) => {
  await withScene(t, async (s) => {
    await underFault(
      s,
      { inject: () => s.lab.resetStorm('alpha', 'beta'), remove: () => s.lab.heal(), holdMs: 8_000 },
      async () => {
        await waitFor(async () => (await s.eventsOf(s.alpha, 'link.error')) > 0, {
          timeoutMs: 30_000,
          what: 'alpha reports that it cannot reach beta',
        });
      },
    );
  });
});

test('a 10 Mbit/s bottleneck under a burst: the lag is reported, then the mirror converges', {
  timeout: 300_000,
}, async (t) => {
  await withScene(t, async (s) => {
    await underFault(
      s,
      {
        inject: async () => {
          await s.lab.limit('alpha', '10mbit');
          writeFileSync(path.join(s.src, 'burst.bin'), randomBytes(24 * 1024 * 1024));
        },
        remove: () => s.lab.unlimit('alpha'),
        // No workload on top: it may rewrite burst.bin into a small file before capture reads
        // it, and then there is no burst to lag behind (seen under load, seed 3123799002).
        holdMs: 0,
      },
      async () => {
        const mirror = async () => findVolume(await s.alpha.status(), 'docs', 'primary')?.mirrors?.[0];
        await waitFor(async () => ((await mirror())?.lagChanges ?? 0) > 0, {
          timeoutMs: 30_000,
          intervalMs: 200,
          what: 'the primary reports the mirror behind',
        });
      },
    );
    const m = findVolume(await s.alpha.status(), 'docs', 'primary')?.mirrors?.[0];
    assert.equal(m?.lagChanges, 0, 'in sync once converged');
  });
});
