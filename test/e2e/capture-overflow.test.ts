/**
 * End-to-end: a burst of changes beyond the kernel's inotify queue, made while the primary's
 * agent is frozen (SIGSTOP: a busy machine, a VM pause), reaches the mirror in full once it runs
 * again. Before capture had its own watch, the kernel's overflow notice was dropped and part of
 * such a burst stayed stale until the hourly scan, while `status` said "in sync".
 *
 * The queue is made small (fs.inotify.max_queued_events, taken by each inotify instance when it
 * is created) while the volume is added, and restored at once: this needs root, as CI has.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { type TestNode, treeHash, waitConverged, waitFor, withCluster } from '../harness/cluster.ts';
import { needPrerequisite } from '../harness/prerequisite.ts';

const QUEUE = '/proc/sys/fs/inotify/max_queued_events';
const SMALL_QUEUE = 256;
/** The tree before the burst: large enough that the repair scan takes a while, so status is sampled during it. */
const DIRS = 8;
const PER_DIR = 250;

async function eventCount(node: TestNode, type: string): Promise<number> {
  const out = await node.cliOk(['events', '--json']);
  return out.split('\n').filter((l) => l.includes(`"type":"${type}"`)).length;
}

test('a burst beyond the inotify queue while the primary is frozen reaches the mirror whole, and is never called in sync before', {
  timeout: 300_000,
}, async (t) => {
  if (
    !needPrerequisite(t, process.getuid?.() === 0 ? undefined : 'root, to set fs.inotify.max_queued_events')
  )
    return;
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const src = cluster.dir('src');
    const dst = cluster.dir('dst');
    for (let d = 0; d < DIRS; d++) {
      await mkdir(path.join(src, `d${d}`), { recursive: true });
      for (let i = 0; i < PER_DIR; i++)
        await writeFile(path.join(src, `d${d}`, `f-${i}.txt`), `first ${d}/${i}\n`);
    }
    const before = readFileSync(QUEUE, 'utf8').trim();
    execFileSync('sysctl', ['-q', '-w', `fs.inotify.max_queued_events=${SMALL_QUEUE}`]);
    try {
      await cluster.addVolume('docs', { path: src, primary: 'alpha', mirrors: [{ node: 'beta', dir: dst }] });
      // Converged means the first scan ran, so the watch (and its small queue) exists.
      await waitConverged(src, dst, { timeoutMs: 120_000 });
    } finally {
      execFileSync('sysctl', ['-q', '-w', `fs.inotify.max_queued_events=${before}`]);
    }
    const alpha = cluster.node('alpha');
    assert.equal(await eventCount(alpha, 'capture.overflow'), 0, 'no overflow before the burst');

    await alpha.kill('SIGSTOP');
    let changes = 0;
    try {
      // Several times the queue: new files in a new directory, appends, deletes and a new tree.
      await mkdir(path.join(src, 'burst'));
      for (let i = 0; i < 4000; i++, changes++)
        await writeFile(path.join(src, 'burst', `n-${i}.txt`), `new ${i}\n`);
      for (let d = 0; d < DIRS; d++)
        for (let i = 0; i < PER_DIR; i++, changes++)
          await appendFile(path.join(src, `d${d}`, `f-${i}.txt`), 'more\n');
      for (let i = 0; i < 100; i++, changes++) await rm(path.join(src, 'd3', `f-${i}.txt`));
    } finally {
      await alpha.kill('SIGCONT');
    }
    t.diagnostic(`${changes} changes while the agent was frozen; queue ${SMALL_QUEUE}`);

    // From the moment the agent runs again, sample its status until the mirror has every
    // change. Nothing changes on disk any more, so a sample that says "in sync" while capture
    // records more afterwards was wrong: those changes existed, unheard. (A status answered
    // before the agent's reader thread has read the queue could not know; a CLI call takes far
    // longer than that read.)
    const samples: { inSync: boolean; lastSeq: number; capture: string }[] = [];
    await waitFor(
      async () => {
        const volume = (await alpha.status()).volumes.find((v) => v.name === 'docs');
        const capture = volume?.capture;
        samples.push({
          inSync: volume?.mirrors?.[0]?.inSync ?? false,
          lastSeq: volume?.lastSeq ?? 0,
          capture: `${capture?.state}/${capture?.why}`,
        });
        const [a, b] = await Promise.all([treeHash(src), treeHash(dst)]);
        return a === b ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100, what: 'the mirror to have every change of the burst' },
    );
    const finalSeq = await waitFor(
      async () => {
        const v = (await alpha.status()).volumes.find((x) => x.name === 'docs');
        return v?.mirrors?.[0]?.inSync === true ? v.lastSeq : undefined;
      },
      { timeoutMs: 60_000, what: 'status to say in sync once it is' },
    );
    t.diagnostic(
      `status while converging: ${JSON.stringify(samples.slice(0, 3))} … ${samples.length} samples`,
    );
    assert.deepEqual(
      samples.filter((x) => x.inSync && x.lastSeq < finalSeq),
      [],
      `no status called the mirror in sync while changes were still uncaptured (final seq ${finalSeq})`,
    );
    assert.equal(await treeHash(src), await treeHash(dst), 'the mirror has every change');
    await waitFor(async () => (await eventCount(alpha, 'capture.overflow')) > 0, {
      timeoutMs: 60_000,
      what: 'the capture.overflow event',
    });

    assert.ok((await eventCount(alpha, 'capture.repaired')) > 0, 'the repair is reported');
  });
});
