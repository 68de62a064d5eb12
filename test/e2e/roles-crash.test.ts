/**
 * kill -9 at each step of promote, switchover and failback (HINDSIGHT_CRASH_AT): after a
 * restart everything is recoverable, the trees converge, nothing is lost, and there is never
 * more than one primary at the newest epoch.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { type Cluster, waitConverged, withCluster } from '../harness/cluster.ts';
import type { StatusJson } from '../harness/status-json.ts';
import type { TestNode } from '../harness/test-node.ts';
import { waitFor } from '../harness/wait.ts';

async function mirrored(cluster: Cluster): Promise<{ src: string; dst: string }> {
  const src = cluster.dir('src');
  const dst = cluster.dir('dst');
  mkdirSync(src);
  for (let i = 0; i < 12; i++) writeFileSync(path.join(src, `f${i}.bin`), randomBytes(48 * 1024));
  await cluster.addVolume('docs', { path: src, primary: 'alpha', mirrors: [{ node: 'beta', dir: dst }] });
  await waitConverged(src, dst, { timeoutMs: 60_000 });
  return { src, dst };
}

/** crashing restarts `node` with HINDSIGHT_CRASH_AT=point, runs `action`, and waits for the agent to die there. */
async function crashing(node: TestNode, point: string, action: () => Promise<unknown>): Promise<void> {
  await node.stop();
  node.env.HINDSIGHT_CRASH_AT = point;
  await node.startAgent();
  await action().catch(() => {}); // the CLI loses its agent midway
  await waitFor(() => !node.isRunning, { timeoutMs: 60_000, what: `${node.name} killed itself at ${point}` });
  delete node.env.HINDSIGHT_CRASH_AT;
  await node.startAgent();
}

/** roleOf is what `node` says it is for docs: role and epoch. */
function roleOf(s: StatusJson): { role: string; epoch: number } | undefined {
  const v = s.volumes.find((x) => x.name === 'docs');
  return v && { role: v.role, epoch: v.epoch };
}

/** settledRoles waits until exactly one node is the primary at the newest epoch and the other follows it. */
async function settledRoles(cluster: Cluster, primary: string, epoch: number): Promise<void> {
  await waitFor(
    async () => {
      const roles = await Promise.all(
        ['alpha', 'beta'].map(async (n) => roleOf(await cluster.node(n).status())),
      );
      const top = Math.max(...roles.map((r) => r?.epoch ?? 0));
      const primaries = roles.filter((r) => r?.role === 'primary' && r.epoch === top);
      assert.ok(primaries.length <= 1, `two primaries at epoch ${top}: ${JSON.stringify(roles)}`);
      const p = roles[['alpha', 'beta'].indexOf(primary)];
      const m = roles[['alpha', 'beta'].indexOf(primary === 'alpha' ? 'beta' : 'alpha')];
      return p?.role === 'primary' && p.epoch === epoch && m?.role === 'mirror' && m.epoch === epoch;
    },
    {
      timeoutMs: 60_000,
      intervalMs: 300,
      what: `${primary} primary and the other its mirror at epoch ${epoch}`,
    },
  );
}

for (const point of ['promote.recorded', 'promote.moved']) {
  test(`kill -9 at ${point}: the promotion finishes at restart`, { timeout: 180_000 }, async (t) => {
    await withCluster(t, ['alpha', 'beta'], async (cluster) => {
      const alpha = cluster.node('alpha');
      const beta = cluster.node('beta');
      const { src, dst } = await mirrored(cluster);
      await alpha.stop();
      await crashing(beta, point, () => beta.cli(['promote', 'docs']));
      await waitFor(async () => roleOf(await beta.status())?.role === 'primary', {
        timeoutMs: 30_000,
        what: 'beta finished promoting at start',
      });
      writeFileSync(path.join(dst, 'on-beta.txt'), 'after the promotion\n');
      await alpha.startAgent();
      await settledRoles(cluster, 'beta', 2);
      await waitConverged(dst, src, { timeoutMs: 60_000 });
    });
  });
}

test('kill -9 at failback.quarantined: the old primary demotes at restart, its divergence kept', {
  timeout: 180_000,
}, async (t) => {
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const alpha = cluster.node('alpha');
    const beta = cluster.node('beta');
    const { src, dst } = await mirrored(cluster);
    await alpha.kill('SIGKILL');
    writeFileSync(path.join(src, 'alpha-only.txt'), 'only alpha had this\n');
    await beta.cliOk(['promote', 'docs']);
    alpha.env.HINDSIGHT_CRASH_AT = 'failback.quarantined';
    await alpha.startAgent();
    await waitFor(() => !alpha.isRunning, { timeoutMs: 60_000, what: 'alpha killed itself while demoting' });
    delete alpha.env.HINDSIGHT_CRASH_AT;
    await alpha.startAgent();
    await settledRoles(cluster, 'beta', 2);
    await waitConverged(dst, src, { timeoutMs: 60_000 });
    const { quarantine } = JSON.parse(await alpha.cliOk(['divergence', 'docs', '--json'])) as {
      quarantine: { path: string }[];
    };
    assert.deepEqual(
      quarantine.map((q) => q.path),
      ['alpha-only.txt'],
    );
    const out = cluster.dir('exported');
    await alpha.cliOk(['divergence', 'docs', '--export', out]);
    assert.equal(readFileSync(path.join(out, 'alpha-only.txt'), 'utf8'), 'only alpha had this\n');
  });
});

for (const point of ['switchover.captured', 'switchover.drained']) {
  test(`kill -9 of the primary at ${point}: it stays the primary, and the next switchover works`, {
    timeout: 180_000,
  }, async (t) => {
    await withCluster(t, ['alpha', 'beta'], async (cluster) => {
      const alpha = cluster.node('alpha');
      const { src, dst } = await mirrored(cluster);
      await crashing(alpha, point, () => alpha.cli(['switchover', 'docs']));
      await settledRoles(cluster, 'alpha', 1);
      writeFileSync(path.join(src, 'after-crash.txt'), 'alpha captures again\n');
      await waitConverged(src, dst, { timeoutMs: 60_000 });
      await alpha.cliOk(['switchover', 'docs'], { timeoutMs: 120_000 });
      await settledRoles(cluster, 'beta', 2);
      await waitConverged(dst, src, { timeoutMs: 60_000 });
    });
  });
}

test('kill -9 of the mirror while it takes over in a switchover: one primary in the end, nothing lost', {
  timeout: 180_000,
}, async (t) => {
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const alpha = cluster.node('alpha');
    const beta = cluster.node('beta');
    const { src, dst } = await mirrored(cluster);
    await beta.stop();
    beta.env.HINDSIGHT_CRASH_AT = 'promote.moved';
    await beta.startAgent();
    await waitFor(
      async () => (await alpha.status()).peers.some((p) => p.node === 'beta' && p.link === 'connected'),
      {
        timeoutMs: 30_000,
        what: 'alpha reconnected to beta',
      },
    );
    const failed = await alpha.cli(['switchover', 'docs'], { timeoutMs: 120_000 });
    assert.notEqual(failed.code, 0, 'the switchover reports the failure');
    await waitFor(() => !beta.isRunning, { timeoutMs: 60_000, what: 'beta killed itself while promoting' });
    delete beta.env.HINDSIGHT_CRASH_AT;
    await beta.startAgent();
    // beta finishes the promotion it recorded; alpha, which resumed meanwhile, meets epoch 2.
    await settledRoles(cluster, 'beta', 2);
    await waitConverged(dst, src, { timeoutMs: 60_000 });
  });
});
