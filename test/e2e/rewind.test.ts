/**
 * Rewind, preview and restore against a model: a seeded random workload runs on the primary
 * while a test clock moves a minute between steps; the primary's tree hash after each step is
 * the model of that moment. Then 50 random moments, forward and backward and just before a mass
 * delete, are previewed and rewound to, and each must reproduce the model exactly. kill -9
 * during a rewind and during garbage collection must leave every retained moment reachable.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  type Cluster,
  diffListings,
  type TreeRecord,
  treeHash,
  treeListing,
  waitFor,
  withCluster,
} from '../harness/cluster.ts';
import { createRng, makeTree, mutate, type Rng, seedFromEnv } from '../harness/workload.ts';

const MINUTE = 60_000;

interface Moment {
  at: number;
  hash: string;
  listing: TreeRecord[];
}

/** runWorkload mirrors a random tree, mutates it step by step, and returns the model of every moment. */
async function runWorkload(
  cluster: Cluster,
  rng: Rng,
  steps: number,
  extra: string[] = [],
): Promise<Moment[]> {
  const clock = cluster.clock!;
  const src = cluster.dir('src');
  mkdirSync(src);
  await makeTree(src, { smallFiles: 40, mediumFiles: 1, mediumBytes: 100_000, depth: 4 }, rng);
  await cluster.addVolume('docs', {
    path: src,
    primary: 'alpha',
    mirrors: [{ node: 'beta', dir: cluster.dir('view') }],
    extra,
  });
  const moments: Moment[] = [];
  const view = cluster.dir('view');
  const mark = async () => {
    // The view follows the head with no delay, so equal trees mean this state is captured and
    // stored (a seq count alone can be reached while a directory move is still being captured).
    await waitFor(async () => (await treeHash(view)) === (await treeHash(src)), {
      timeoutMs: 60_000,
      what: 'the view equal to the primary',
    });
    await cluster.waitCaughtUp('docs', 'alpha', 'beta');
    const listing = await treeListing(src);
    moments.push({ at: clock.now(), hash: await treeHash(src), listing });
    clock.advance(MINUTE);
  };
  await mark();
  for (let i = 0; i < steps; i++) {
    await mutate(src, rng, rng.int(1, 4));
    await mark();
  }
  // A mass delete: every file but one goes (an emptied root would be stopped by the root guard).
  const files = (await treeListing(src)).filter((r) => r.type === 'file');
  for (const f of files.slice(1)) rmSync(path.join(src, f.path));
  await mark();
  return moments;
}

/** assertTree checks `dir` against the model of a moment, showing the difference if any. */
async function assertTree(dir: string, m: Moment, what: string): Promise<void> {
  if ((await treeHash(dir)) === m.hash) return;
  assert.fail(`${what}:\n${diffListings(m.listing, await treeListing(dir))}`);
}

/** inside is a moment between the one recorded and the next step. */
const inside = (m: Moment) => String(m.at + MINUTE / 2);

test('preview and rewind to 50 random moments reproduce the model; restore brings back a folder as it was', {
  timeout: 600_000,
}, async (t) => {
  const seed = seedFromEnv();
  t.diagnostic(`seed ${seed} (HINDSIGHT_SEED to repeat)`);
  await withCluster(
    t,
    ['alpha', 'beta'],
    async (cluster) => {
      const rng = createRng(seed);
      const moments = await runWorkload(cluster, rng, 20);
      const beta = cluster.node('beta');
      const view = cluster.dir('view');
      const beforeMassDelete = moments.length - 2;
      const picks = [beforeMassDelete, ...Array.from({ length: 49 }, () => rng.int(0, moments.length - 1))];
      let forward = 0;
      let backward = 0;
      let last = moments.length - 1;
      for (const [n, i] of picks.entries()) {
        const m = moments[i];
        const into = cluster.dir(`preview-${n}`);
        await beta.cliOk(['preview', 'docs', '--at', inside(m), '--into', into]);
        await assertTree(into, m, `preview of moment ${i} (pick ${n}, seed ${seed})`);
        rmSync(into, { recursive: true });
        await beta.cliOk(['rewind', 'docs', '--to', inside(m)]);
        await assertTree(view, m, `rewind to moment ${i} (pick ${n}, seed ${seed})`);
        if (i > last) forward++;
        if (i < last) backward++;
        last = i;
      }
      assert.ok(
        forward > 5 && backward > 5,
        `both directions exercised (${forward} forward, ${backward} back)`,
      );

      // Restore one folder as of a moment where it existed with files in it.
      const candidates = moments.flatMap((m, i) =>
        m.listing
          .filter(
            (r) =>
              r.type === 'dir' && m.listing.some((f) => f.type === 'file' && f.path.startsWith(`${r.path}/`)),
          )
          .map((r) => ({ i, dir: r.path })),
      );
      const pick = candidates[rng.int(0, candidates.length - 1)];
      const m = moments[pick.i];
      const into = cluster.dir('restored');
      // A relative --into is relative to where the command runs, not to the agent.
      await beta.cliOk(['restore', 'docs', pick.dir, '--at', inside(m), '--into', path.basename(into)], {
        cwd: path.dirname(into),
      });
      const want = m.listing
        .filter((r) => r.path.startsWith(`${pick.dir}/`))
        .map((r) => ({ ...r, path: r.path.slice(pick.dir.length + 1) }));
      assert.deepEqual(await treeListing(path.join(into, pick.dir)), want);
      assert.deepEqual(readdirSync(into), [pick.dir.split('/')[0]], 'nothing but the folder is restored');
    },
    { testClock: true },
  );
});

test('kill -9 during a rewind and during garbage collection: the view is consistent and retained moments rewind', {
  timeout: 600_000,
}, async (t) => {
  const seed = seedFromEnv();
  t.diagnostic(`seed ${seed} (HINDSIGHT_SEED to repeat)`);
  await withCluster(
    t,
    ['alpha', 'beta'],
    async (cluster) => {
      const rng = createRng(seed);
      const moments = await runWorkload(cluster, rng, 12, ['--history', '8m']);
      const beta = cluster.node('beta');
      const view = cluster.dir('view');
      const crashAt = async (point: string, args: string[]) => {
        await beta.stop();
        beta.env.HINDSIGHT_CRASH_AT = point;
        await beta.startAgent();
        const out = await beta.cli(args);
        assert.notEqual(out.code, 0, `${point}: the agent died mid-command`);
        await beta.waitExit();
        delete beta.env.HINDSIGHT_CRASH_AT;
        await beta.startAgent();
        // The agent finishes an interrupted rewind as it starts the volume's views.
        await waitFor(
          async () => {
            const v = (await beta.status()).volumes.find((x) => x.name === 'docs')?.views?.[0];
            return v !== undefined && !v.moving;
          },
          { what: 'the interrupted rewind finished' },
        );
      };

      // Back from after the mass delete to just before it: many files, crash halfway.
      const before = moments[moments.length - 2];
      await crashAt('rewind.midway', ['rewind', 'docs', '--to', inside(before)]);
      const views = (await beta.status()).volumes.find((v) => v.name === 'docs')?.views;
      assert.equal(views?.[0].held, true, 'the interrupted rewind left the view held');
      await assertTree(view, before, 'the interrupted rewind was finished at start');
      await crashAt('rewind.recorded', ['rewind', 'docs', '--to', inside(moments[3])]);
      await assertTree(view, moments[3], 'a rewind recorded but not begun is finished at start');

      // History of 8 minutes: collection prunes what is older; kill it after each step.
      await beta.cliOk(['resume', 'docs']);
      await cluster.waitCaughtUp('docs', 'alpha', 'beta');
      for (const point of ['gc.after-prune', 'gc.after-drop']) await crashAt(point, ['gc']);
      await beta.cliOk(['gc']);
      assert.equal(JSON.parse(await beta.cliOk(['verify', '--json'])).bad.length, 0);
      const now = cluster.clock!.now();
      // Kept: at least half a minute inside the window. The margin once pointed the other way and
      // counted moments up to 30 s older than the horizon as kept; when the agent's collection
      // had pruned one of them, its rewind was refused (CI, seed 4045066343, under load).
      const kept = moments.filter((m) => m.at - MINUTE / 2 >= now - 8 * MINUTE);
      assert.ok(kept.length >= 3, `some moments are within the history (${kept.length})`);
      for (const m of [...kept].reverse()) {
        await beta.cliOk(['rewind', 'docs', '--to', inside(m)]);
        assert.equal(await treeHash(view), m.hash, `rewind after collection (seed ${seed})`);
      }
      const old = await beta.cli(['rewind', 'docs', '--to', inside(moments[0])]);
      assert.equal(old.code, 1);
      assert.match(old.stderr, /E_TIME_OUT_OF_RANGE/);
      assert.ok(statSync(view).isDirectory());
    },
    { testClock: true },
  );
});
