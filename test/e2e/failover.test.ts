/**
 * Automatic failover on loopback, three real agents: alpha primary, beta mirror, w witness.
 * kill -9 of the primary makes the mirror take over once the witness agrees; a mirror
 * without a witness only alerts. (The service address and partitions are tested in network
 * namespaces: test/e2e/netns-failover.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { type Cluster, waitConverged, withCluster } from '../harness/cluster.ts';
import { findVolume } from '../harness/status-json.ts';
import { waitFor } from '../harness/wait.ts';

async function mirroredDocs(cluster: Cluster): Promise<{ src: string; dst: string }> {
  const src = cluster.dir('src');
  const dst = cluster.dir('dst');
  mkdirSync(src);
  for (let i = 0; i < 10; i++) writeFileSync(path.join(src, `f${i}.bin`), randomBytes(32 * 1024));
  await cluster.addVolume('docs', { path: src, primary: 'alpha', mirrors: [{ node: 'beta', dir: dst }] });
  await waitConverged(src, dst, { timeoutMs: 60_000 });
  return { src, dst };
}

interface FailoverStatus {
  mode: string;
  leaseMs?: number;
  primarySilentMs?: number;
}

test('kill -9 of the primary: the mirror takes over once the witness agrees', {
  timeout: 180_000,
}, async (t) => {
  await withCluster(t, ['alpha', 'beta', 'w'], async (cluster) => {
    const alpha = cluster.node('alpha');
    const beta = cluster.node('beta');
    const { dst } = await mirroredDocs(cluster);
    await alpha.cliOk([
      'volume',
      'set',
      'docs',
      '--failover',
      'auto',
      '--heartbeat',
      '500ms',
      '--timeout',
      '3s',
      '--witness',
      'w',
    ]);
    const lease = async () =>
      (findVolume(await alpha.status(), 'docs', 'primary') as { failover?: FailoverStatus })?.failover
        ?.leaseMs ?? 0;
    await waitFor(async () => (await lease()) > 0, { timeoutMs: 30_000, what: 'alpha holds a lease' });

    await alpha.kill('SIGKILL');
    const killedAt = performance.now();
    await waitFor(async () => findVolume(await beta.status(), 'docs', 'primary')?.epoch === 2, {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: 'beta promoted itself',
    });
    t.diagnostic(
      `kill -9 → beta primary: ${((performance.now() - killedAt) / 1000).toFixed(1)} s (timeout 3 s)`,
    );
    const events = await cluster.node('w').cliOk(['events', '--json']);
    assert.match(events, /failover\.voted/, 'the witness voted');
    // The new primary captures: a write on beta is taken into its outbox.
    writeFileSync(path.join(dst, 'after-failover.txt'), 'beta is primary\n');
    await waitFor(async () => ((await beta.status()).volumes[0]?.lastSeq ?? 0) > 0, { timeoutMs: 30_000 });
  });
});

test('without a witness the mirror does not promote itself; it alerts', { timeout: 120_000 }, async (t) => {
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const alpha = cluster.node('alpha');
    const beta = cluster.node('beta');
    await mirroredDocs(cluster);
    await alpha.cliOk([
      'volume',
      'set',
      'docs',
      '--failover',
      'auto',
      '--heartbeat',
      '500ms',
      '--timeout',
      '2s',
    ]);
    await waitFor(
      async () =>
        (findVolume(await beta.status(), 'docs', 'mirror') as { failover?: FailoverStatus })?.failover
          ?.mode === 'auto',
      { timeoutMs: 30_000, what: 'beta learned failover auto' },
    );
    await alpha.kill('SIGKILL');
    await waitFor(async () => /failover\.no-quorum/.test(await beta.cliOk(['events', '--json'])), {
      timeoutMs: 30_000,
      what: 'beta alerts',
    });
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(
      findVolume(await beta.status(), 'docs', 'mirror')?.epoch,
      1,
      'beta is still a mirror at epoch 1',
    );
  });
});
