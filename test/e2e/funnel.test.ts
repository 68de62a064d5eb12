/**
 * The time funnel with real agents on a test clock: a change of any kind becomes visible in a
 * delayed view only once it has spent the delay in the funnel after its receipt; the delay can
 * be shortened and lengthened at runtime; a hold survives a restart.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { type Cluster, treeListing, waitFor, withCluster } from '../harness/cluster.ts';

const MINUTE = 60_000;
/** How long a view gets to show what is due: the apply loop looks every second. */
const SETTLE_MS = 2500;

/** received waits until beta holds every change alpha captured of `docs`, and returns the seq. */
async function received(cluster: Cluster): Promise<number> {
  let seq = 0;
  await waitFor(
    async () => {
      const [p, m] = await Promise.all([cluster.node('alpha').status(), cluster.node('beta').status()]);
      const last = p.volumes.find((v) => v.name === 'docs')?.lastSeq ?? 0;
      seq = m.volumes.find((v) => v.name === 'docs')?.receivedSeq ?? -1;
      return last > 0 && seq >= last && seq;
    },
    { timeoutMs: 30_000, what: 'beta received every change' },
  );
  return seq;
}

async function listing(dir: string): Promise<string> {
  return JSON.stringify(await treeListing(dir));
}

/** stays asserts that `dir` keeps its listing for a while: nothing became visible early. */
async function stays(dir: string, expected: string, why: string): Promise<void> {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  assert.equal(await listing(dir), expected, why);
}

async function becomes(src: string, dir: string, why: string): Promise<void> {
  const want = await listing(src);
  await waitFor(async () => (await listing(dir)) === want, { timeoutMs: 20_000, what: why });
}

test('a delayed view shows each change only after the delay, also after runtime changes and a restart', {
  timeout: 300_000,
}, async (t) => {
  await withCluster(
    t,
    ['alpha', 'beta'],
    async (cluster) => {
      const clock = cluster.clock!;
      const src = cluster.dir('src');
      const view = cluster.dir('view');
      mkdirSync(src);
      writeFileSync(path.join(src, 'keep.txt'), 'kept\n');
      await cluster.addVolume('docs', {
        path: src,
        primary: 'alpha',
        mirrors: [{ node: 'beta', dir: view }],
        extra: ['--delay', '1h'],
      });
      const beta = cluster.node('beta');

      // Every kind of change arrives, and none of it shows before the hour is up.
      mkdirSync(path.join(src, 'dir'));
      writeFileSync(path.join(src, 'dir', 'a.txt'), 'alpha\n');
      symlinkSync('dir/a.txt', path.join(src, 'link'));
      await received(cluster);
      const empty = await listing(view);
      assert.equal(empty, '[]');
      clock.advance(59 * MINUTE);
      await stays(view, empty, 'nothing may show 59 minutes after receipt');
      clock.advance(MINUTE + 1000);
      await becomes(src, view, 'the first changes applied once due');

      // Truncation, rename, permission change and delete wait exactly like writes.
      const before = await listing(view);
      truncateSync(path.join(src, 'dir', 'a.txt'), 2);
      renameSync(path.join(src, 'keep.txt'), path.join(src, 'dir', 'kept.txt'));
      chmodSync(path.join(src, 'dir'), 0o700);
      rmSync(path.join(src, 'link'));
      await received(cluster);
      clock.advance(30 * MINUTE);
      await stays(view, before, 'no truncate, rename, chmod or delete may show within the delay');
      // A shorter delay takes effect at once: these changes are 30 minutes old.
      await beta.cliOk(['delay', 'docs', '10m']);
      await becomes(src, view, 'changes older than the new, shorter delay applied at once');

      // A longer delay holds back what is now younger than it.
      await beta.cliOk(['delay', 'docs', '2h']);
      writeFileSync(path.join(src, 'dir', 'late.txt'), 'late\n');
      await received(cluster);
      const mid = await listing(view);
      clock.advance(61 * MINUTE);
      await stays(view, mid, 'a lengthened delay holds changes past the old delay');
      clock.advance(60 * MINUTE);
      await becomes(src, view, 'applied once the lengthened delay passed');

      // A hold survives a restart, however much time passes.
      await beta.cliOk(['hold', 'docs']);
      writeFileSync(path.join(src, 'held.txt'), 'held\n');
      await received(cluster);
      const held = await listing(view);
      clock.advance(3 * 60 * MINUTE);
      await beta.restart();
      await stays(view, held, 'a held view applies nothing, also after a restart');
      const status = await beta.status();
      const main = status.volumes.find((v) => v.name === 'docs')?.views?.find((v) => v.name === 'main');
      assert.equal(main?.held, true);
      assert.equal(main?.holdReason, 'hold');
      assert.equal(main?.funnel.changes, 1);
      await beta.cliOk(['resume', 'docs']);
      await becomes(src, view, 'resumed view catches up');
    },
    { testClock: true },
  );
});
