/**
 * Disk faults on the mirror's view, CI tier (issue 5): the view's file system full, out of
 * inodes, or remounted read-only while changes arrive. Apply stops with an alert (apply.error),
 * receipt goes on (the timeline lives in the state directory), and once the fault is removed
 * the view converges with no staging file left. Needs root (mount).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { type Cluster, explainNodes, waitConverged, withCluster } from '../harness/cluster.ts';
import { needPrerequisite } from '../harness/prerequisite.ts';
import { assertBounded, resources } from '../harness/resources.ts';
import { stagingFilesIn } from '../harness/tree-hash.ts';
import { waitFor } from '../harness/wait.ts';

/** needRoot fails the test in CI and skips it loudly elsewhere when mounts cannot be made. */
function needRoot(t: TestContext): boolean {
  const isRoot = process.getuid?.() === 0;
  return needPrerequisite(t, isRoot ? null : 'disk fault tests mount file systems and need root');
}

function mount(args: string[]): void {
  execFileSync('mount', args, { stdio: 'pipe' });
}

interface DiskFault {
  name: string;
  /** tmpfs options of the view at the start. */
  options: string;
  /** What happens on the primary (or to the mount) that the view cannot take. */
  inject: (src: string, dst: string) => void;
  /** Options that remove the fault. */
  remedy: string;
}

const FAULTS: DiskFault[] = [
  {
    name: 'the view file system is full',
    options: 'size=4m',
    inject: (src) => {
      for (let i = 0; i < 12; i++) writeFileSync(path.join(src, `big${i}.bin`), randomBytes(1024 * 1024));
    },
    remedy: 'remount,size=64m',
  },
  {
    name: 'the view file system is out of inodes',
    options: 'size=64m,nr_inodes=48',
    inject: (src) => {
      mkdirSync(path.join(src, 'many'));
      for (let i = 0; i < 120; i++) writeFileSync(path.join(src, 'many', `f${i}`), String(i));
    },
    remedy: 'remount,nr_inodes=100000',
  },
  {
    name: 'the view file system is remounted read-only',
    options: 'size=64m',
    inject: (src, dst) => {
      mount(['-o', 'remount,ro', dst]);
      for (let i = 0; i < 10; i++)
        writeFileSync(path.join(src, `ro${i}.txt`), `written while read-only ${i}\n`);
    },
    remedy: 'remount,rw',
  },
];

async function applyErrors(cluster: Cluster): Promise<number> {
  const out = await cluster.node('beta').cliOk(['events', '--json']);
  return out.split('\n').filter((l) => l.includes('"apply.error"')).length;
}

for (const fault of FAULTS) {
  test(`${fault.name}: apply alerts, and converges once it is fixed`, { timeout: 240_000 }, async (t) => {
    if (!needRoot(t)) return;
    await withCluster(t, ['alpha', 'beta'], async (cluster) => {
      const src = cluster.dir('src');
      const dst = cluster.dir('dst');
      mkdirSync(src);
      mkdirSync(dst);
      for (let i = 0; i < 5; i++) writeFileSync(path.join(src, `seed${i}.txt`), `seed ${i}\n`);
      mount(['-t', 'tmpfs', '-o', fault.options, 'tmpfs', dst]);
      try {
        await cluster.addVolume('docs', {
          path: src,
          primary: 'alpha',
          mirrors: [{ node: 'beta', dir: dst }],
        });
        await waitConverged(src, dst, { timeoutMs: 60_000 });
        const before = [resources(cluster.node('alpha')), resources(cluster.node('beta'))];
        fault.inject(src, dst);
        await waitFor(async () => (await applyErrors(cluster)) > 0, {
          timeoutMs: 60_000,
          what: 'beta raises apply.error',
        });
        // Receipt goes on: the mirror holds every change durably, whatever its view's disk does.
        const primary = await cluster.node('alpha').status();
        await waitFor(
          async () =>
            ((await cluster.node('beta').status()).volumes[0]?.receivedSeq ?? 0) >=
            (primary.volumes[0]?.lastSeq ?? 1),
          { timeoutMs: 60_000, what: 'beta received everything while its view is stuck' },
        );
        mount(['-o', fault.remedy, dst]);
        await waitConverged(src, dst, {
          timeoutMs: 120_000,
          explain: explainNodes(cluster.node('alpha'), cluster.node('beta')),
        });
        await cluster.waitCaughtUp('docs', 'alpha', 'beta', { timeoutMs: 60_000 });
        assert.deepEqual(stagingFilesIn(dst), [], 'no staging file is left in the view');
        await cluster.node('beta').cliOk(['verify']);
        assertBounded(cluster.node('alpha'), before[0], fault.name);
        assertBounded(cluster.node('beta'), before[1], fault.name);
      } finally {
        execFileSync('umount', ['-l', dst], { stdio: 'pipe' });
      }
    });
  });
}
