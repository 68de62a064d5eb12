/**
 * Power cuts of the mirror's disk, extended tier (issue 5; `npm run test:chaos`). The mirror's
 * state directory and its view live on a loop-mounted ext4 whose dirty pages the kernel holds
 * back. In each round the chaos workload runs on the primary; at a random moment the mirror is
 * frozen (SIGSTOP), the disk image is copied as it stands — fsynced data in it, unsynced data
 * not — and the mirror is killed; the copy is checked by e2fsck and mounted in place, as after
 * a reboot. The mirror must start on it, recover at least to the position the primary saw it
 * acknowledge, verify its chunk store, and converge with no staging file in the view; at the
 * end every acknowledged moment must come back from its history.
 *
 * HINDSIGHT_CHAOS_ROUNDS sets the number of cuts.
 */
import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AckOracle } from '../harness/acks.ts';
import { chaosSeed, chaosSummary } from '../harness/chaos-report.ts';
import { ChaosWorkload } from '../harness/chaos-workload.ts';
import { waitConverged, withCluster } from '../harness/cluster.ts';
import { holdWriteBack, LoopDisk, loopDiskMissing } from '../harness/loop-disk.ts';
import { needPrerequisite } from '../harness/prerequisite.ts';
import { findVolume } from '../harness/status-json.ts';
import type { TestNode } from '../harness/test-node.ts';
import { stagingFilesIn } from '../harness/tree-hash.ts';
import { waitFor } from '../harness/wait.ts';
import { createRng, makeTree } from '../harness/workload.ts';

const ROUNDS = Number(process.env.HINDSIGHT_CHAOS_ROUNDS ?? 10);

test(`${ROUNDS} power cuts of the mirror's disk lose no acknowledged change`, {
  timeout: 300_000 + ROUNDS * 120_000,
}, async (t) => {
  if (!needPrerequisite(t, await loopDiskMissing())) return;
  const seed = chaosSeed(t, 'power-cut');
  const rng = createRng(seed);
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const [alpha, beta] = [cluster.node('alpha'), cluster.node('beta')];
    let disk: LoopDisk | undefined;
    let restoreWriteBack = () => {};
    try {
      disk = await LoopDisk.create(cluster.dir('beta-disk'), 512);
      restoreWriteBack = holdWriteBack();
      // Move beta's state onto the disk; the old path stays valid through a link.
      await beta.stop();
      cpSync(beta.stateDir, path.join(disk.mountPoint, 'state'), { recursive: true });
      rmSync(beta.stateDir, { recursive: true });
      await disk.sync();
      symlinkSync(path.join(disk.mountPoint, 'state'), beta.stateDir);
      await beta.startAgent();

      const src = cluster.dir('src');
      const view = path.join(disk.mountPoint, 'view');
      mkdirSync(src);
      await makeTree(src, { smallFiles: 30, mediumFiles: 1, mediumBytes: 300_000, depth: 5 }, rng);
      await cluster.addVolume('docs', {
        path: src,
        primary: 'alpha',
        mirrors: [{ node: 'beta', dir: view }],
      });
      const oracle = new AckOracle(cluster, 'docs', 'alpha', 'beta');
      await oracle.checkpoint(src, view);
      const workload = new ChaosWorkload(src, rng);
      let ops = 0;
      let journalReplays = 0;

      for (let round = 0; round < ROUNDS; round++) {
        const running = workload.run(rng.int(15, 40));
        await sleep(rng.int(200, 2500));
        // Freeze the mirror, and wait until every thread of it has stopped: one still inside an
        // fsync would keep writing while the image is copied, giving a state no power cut leaves.
        await beta.kill('SIGSTOP');
        await waitStopped(beta);
        const acked = await oracle.acked();
        // The harness's own control: a file written (not synced) just before the cut must be
        // gone after it, or the cut kept what a power cut loses.
        const canary = path.join(disk.mountPoint, `canary-${round}`);
        writeFileSync(canary, 'unsynced');
        const fsck = await disk.cut();
        assert.ok(
          !existsSync(canary) || readFileSync(canary).length === 0,
          'the unsynced canary survived the cut: the harness kept what a power cut loses',
        );
        if (/recovering journal|Clearing orphaned/i.test(fsck)) journalReplays++;
        await beta.kill('SIGKILL');
        ops += (await running).length;
        await beta.startAgent();
        const recovered = findVolume(await beta.apiStatus(), 'docs', 'mirror')?.receivedSeq ?? 0;
        assert.ok(
          recovered >= acked,
          `round ${round} (seed ${seed}): beta acknowledged seq ${acked} but recovered to ${recovered} after the power cut`,
        );
        await beta.cliOk(['verify']);
        await oracle.checkpoint(src, view);
        const staging = stagingFilesIn(view);
        assert.deepEqual(staging, [], `round ${round}: no staging file is left in the view`);
      }
      await oracle.verifyMoments();
      await waitConverged(src, view);
      await alpha.cliOk(['verify']);
      const summary = `${ROUNDS} power cuts, ${ops} operations, ${oracle.moments.length} acknowledged moments previewed, ${journalReplays} cuts needed a journal replay`;
      chaosSummary(t, 'power-cut', summary);
    } finally {
      restoreWriteBack();
      await beta.kill('SIGKILL').catch(() => {});
      await disk?.destroy();
    }
  });
});

/** waitStopped waits until every thread of the agent's processes is stopped (state T). */
async function waitStopped(node: TestNode): Promise<void> {
  const pid = node.pid;
  if (pid === undefined) throw new Error(`${node.name} is not running`);
  await waitFor(
    () =>
      readdirSync(`/proc/${pid}/task`).every((tid) => {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
      }),
    { timeoutMs: 30_000, intervalMs: 20, what: `every thread of ${node.name} stopped` },
  );
}
