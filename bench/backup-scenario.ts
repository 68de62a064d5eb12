import { existsSync, mkdirSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { diffListings, hashFile, treeHash, treeListing } from '../test/harness/cluster.ts';
import { applyEdits, createRng, planScattered } from '../test/harness/workload.ts';
import { type DataSet, largeFiles, smallFiles } from './bench-data.ts';
import { type BenchRow, row } from './bench-report.ts';
import { HindsightPair } from './hindsight-pair.ts';
import { run } from './rsync-daemon.ts';
import { countFiles, rssRows, type ScenarioContext } from './scenario-context.ts';

const INITIAL = 'k1. backup, initial';
const RERUN = 'k2. backup, unchanged re-run';
const CHANGED = 'k3. backup after 1 % changed';
const RESTORE = 'k4. restore of the whole backup';
const VOLUME = 'backup';
const MIB = 1024 * 1024;
/** EDIT_BLOCK is the size of the blocks changed in the large file: a database's extent, not a page. */
const EDIT_BLOCK = 64 * 1024;

/** Step is one timed run of one system: seconds, and the repository's size on disk after it. */
interface Step {
  seconds: number;
  repoBytes: number;
}

/** Restored is one system's full restore: seconds, and what was wrong with the tree ('' if nothing). */
interface Restored {
  seconds: number;
  problem: string;
}

/** Restic is a local restic repository on the same disk, with the environment that opens it. */
interface Restic {
  repo: string;
  env: Record<string, string>;
}

/**
 * benchBackup measures Hindsight's backups against restic on the same tree in the same run. The
 * large files (2 GiB in 20 files) and the small files (50,000 of 1–8 KiB), × BENCH_SCALE, are
 * copied into one source directory, which is one volume mirrored from alpha to beta. On beta a
 * `file://` tier in the run directory takes `hindsight backup run`; restic backs up the source
 * directory itself to a local repository on the same disk. Timed, each beside restic: the
 * initial backup, the unchanged re-run, the backup after 1 % of the small files and scattered
 * 64 KiB blocks of one large file changed (once the mirror holds the change), and a full
 * restore, which must equal the source (checked outside the timing).
 */
export async function benchBackup(ctx: ScenarioContext): Promise<BenchRow[]> {
  const [large, small] = [await largeFiles(ctx.config), await smallFiles(ctx.config)];
  const source = path.join(ctx.runDir, 'source');
  // The cached data sets are shared by other scenarios; this one changes its tree, so it copies.
  mkdirSync(source, { recursive: true });
  await run('cp', ['-a', large.dir, path.join(source, 'large')], ctx.timeoutMs);
  await run('cp', ['-a', small.dir, path.join(source, 'small')], ctx.timeoutMs);
  const data = { files: large.files + small.files, bytes: large.bytes + small.bytes };
  ctx.log(`backup: ${data.files} files, ${(data.bytes / 1e6).toFixed(0)} MB in ${source}`);

  const pair = await HindsightPair.start(path.join(ctx.runDir, 'pair'));
  ctx.defer(() => pair.close());
  const view = pair.mirrorDir(VOLUME);
  const mirrorStarted = performance.now();
  await pair.addVolume(VOLUME, source);
  await pair.waitCaughtUp(VOLUME, {
    minSeq: 1,
    timeoutMs: ctx.timeoutMs,
    check: async () => (await countFiles(view)) >= data.files,
  });
  ctx.log(`backup: mirrored in ${since(mirrorStarted).toFixed(1)} s (not a figure); checking the view`);
  await mustEqual(source, view, await treeHash(source), 'the mirror');

  const tier = path.join(ctx.runDir, 'tier');
  mkdirSync(tier);
  await pair.mirror.cliOk(['tier', 'add', 'local', `file://${tier}`]);
  const restic = ctx.config.tools.restic ? await resticInit(ctx) : undefined;

  const h1 = await hindsightBackup(ctx, pair, tier, 'initial');
  const r1 = restic ? await resticBackup(ctx, restic, source, 'initial') : undefined;
  const h2 = await hindsightBackup(ctx, pair, tier, 'unchanged re-run');
  const r2 = restic ? await resticBackup(ctx, restic, source, 'unchanged re-run') : undefined;

  const changed = await changeOnePercent(ctx, pair, source, small);
  const expected = await treeHash(source);
  await mustEqual(source, view, expected, 'the mirror after the change');
  const h3 = await hindsightBackup(ctx, pair, tier, 'after the change');
  const r3 = restic ? await resticBackup(ctx, restic, source, 'after the change') : undefined;

  const hr = await hindsightRestore(ctx, pair, h3.id, source, expected);
  const rr = restic ? await resticRestore(ctx, restic, source, expected) : undefined;

  const name = restic ? 'restic' : 'restic (missing)';
  const both = (scenario: string) => ({ scenario, competitorName: name });
  const mb = (s: Step | Restored | undefined) => (s ? data.bytes / 1e6 / s.seconds : null);
  return [
    row({
      ...both(INITIAL),
      metric: 'time',
      unit: 's',
      better: 'lower',
      hindsight: h1.seconds,
      competitor: r1?.seconds ?? null,
      note: `${data.files} files, ${(data.bytes / 1e6).toFixed(0)} MB`,
    }),
    row({
      ...both(INITIAL),
      metric: 'throughput',
      unit: 'MB/s',
      better: 'higher',
      hindsight: mb(h1),
      competitor: mb(r1),
    }),
    row({
      ...both(INITIAL),
      metric: 'throughput',
      unit: 'files/s',
      better: 'higher',
      hindsight: data.files / h1.seconds,
      competitor: r1 ? data.files / r1.seconds : null,
    }),
    row({
      ...both(INITIAL),
      metric: 'repository size',
      unit: 'MiB',
      better: 'lower',
      hindsight: h1.repoBytes / MIB,
      competitor: r1 ? r1.repoBytes / MIB : null,
      note: `data ${(data.bytes / MIB).toFixed(1)} MiB`,
    }),
    row({
      ...both(RERUN),
      metric: 'time',
      unit: 's',
      better: 'lower',
      hindsight: h2.seconds,
      competitor: r2?.seconds ?? null,
      note: `growth H ${kib(h2.repoBytes - h1.repoBytes)}, restic ${r1 && r2 ? kib(r2.repoBytes - r1.repoBytes) : '-'}`,
    }),
    row({
      ...both(CHANGED),
      metric: 'time',
      unit: 's',
      better: 'lower',
      hindsight: h3.seconds,
      competitor: r3?.seconds ?? null,
      note: changed,
    }),
    row({
      ...both(CHANGED),
      metric: 'repository growth',
      unit: 'MiB',
      better: 'lower',
      hindsight: (h3.repoBytes - h2.repoBytes) / MIB,
      competitor: r2 && r3 ? (r3.repoBytes - r2.repoBytes) / MIB : null,
    }),
    ...restoreRows(hr, rr, name, data.bytes / 1e6),
    ...rssRows('k. backup (whole scenario)', pair),
  ];
}

function restoreRows(h: Restored, r: Restored | undefined, competitorName: string, mb: number): BenchRow[] {
  const theirs = r && !r.problem ? r : undefined;
  const problems = [
    h.problem && `hindsight restore differs:\n${h.problem}`,
    r?.problem && `restic restore differs:\n${r.problem}`,
  ];
  const note = problems.filter((p) => p).join('\n') || undefined;
  const base = {
    scenario: RESTORE,
    competitorName,
    status: note ? ('failed' as const) : ('ok' as const),
    note,
  };
  return [
    row({
      ...base,
      metric: 'time',
      unit: 's',
      better: 'lower',
      hindsight: h.seconds,
      competitor: r?.seconds ?? null,
    }),
    row({
      ...base,
      metric: 'throughput',
      unit: 'MB/s',
      better: 'higher',
      hindsight: h.problem ? null : mb / h.seconds,
      competitor: theirs ? mb / theirs.seconds : null,
    }),
  ];
}

/** hindsightBackup times `hindsight backup run VOLUME --json` on the mirror, then sizes the tier. */
async function hindsightBackup(
  ctx: ScenarioContext,
  pair: HindsightPair,
  tier: string,
  what: string,
): Promise<Step & { id: string }> {
  const started = performance.now();
  const out = await pair.mirror.cliOk(['backup', 'run', VOLUME, '--json'], { timeoutMs: ctx.timeoutMs });
  const seconds = since(started);
  const backup = JSON.parse(out) as { id: string; files: number; bytes: number; newBytes: number };
  const repoBytes = await du(ctx, tier);
  ctx.log(
    `backup: hindsight ${what} ${seconds.toFixed(2)} s, ${backup.files} files, ${kib(backup.newBytes)} new, tier ${kib(repoBytes)} (${load()})`,
  );
  return { seconds, repoBytes, id: backup.id };
}

async function resticInit(ctx: ScenarioContext): Promise<Restic> {
  const repo = path.join(ctx.runDir, 'restic-repo');
  const env = {
    RESTIC_REPOSITORY: repo,
    RESTIC_PASSWORD: 'bench',
    RESTIC_CACHE_DIR: path.join(ctx.runDir, 'restic-cache'),
  };
  await run('restic', ['init'], ctx.timeoutMs, { env });
  return { repo, env };
}

/** resticBackup times `restic backup .` of the source directory, then sizes the repository. */
async function resticBackup(
  ctx: ScenarioContext,
  restic: Restic,
  source: string,
  what: string,
): Promise<Step> {
  const started = performance.now();
  // A relative '.' stores the tree at the snapshot's root, so a restore lands in --target itself.
  const out = await run('restic', ['backup', '--json', '.'], ctx.timeoutMs, { env: restic.env, cwd: source });
  const seconds = since(started);
  const summary = out.split('\n').find((l) => l.includes('"message_type":"summary"'));
  const added = summary ? (JSON.parse(summary) as { data_added: number }).data_added : Number.NaN;
  const repoBytes = await du(ctx, restic.repo);
  ctx.log(
    `backup: restic ${what} ${seconds.toFixed(2)} s, ${kib(added)} added, repository ${kib(repoBytes)} (${load()})`,
  );
  return { seconds, repoBytes };
}

/**
 * changeOnePercent rewrites 1 % of the small files (chosen from the seed) and scattered 64 KiB
 * blocks (1 % of it) of one large file, then waits until the mirror holds all of it. It returns
 * a note saying what changed.
 */
async function changeOnePercent(
  ctx: ScenarioContext,
  pair: HindsightPair,
  source: string,
  small: DataSet,
): Promise<string> {
  const rng = createRng(ctx.config.seed + 8);
  const chosen = new Set<number>();
  const count = Math.max(1, Math.round(small.files / 100));
  while (chosen.size < count) chosen.add(rng.int(0, small.files - 1));
  const rewrites: { rel: string; data: Buffer }[] = [];
  for (const i of [...chosen].sort((a, b) => a - b)) {
    const rel = path.join('small', `d${String(Math.floor(i / 1000)).padStart(3, '0')}`, `f${i}.dat`);
    const data = rng.bytes(rng.int(1024, 8192));
    await writeFile(path.join(source, rel), data);
    rewrites.push({ rel, data });
  }
  const bigRel = path.join('large', 'large-0.bin');
  const edits = planScattered((await stat(path.join(source, bigRel))).size, rng, 0.01, EDIT_BLOCK);
  const seqBefore = await pair.lastSeq(VOLUME);
  await applyEdits(path.join(source, bigRel), edits);
  const bigHash = await hashFile(path.join(source, bigRel));
  const started = performance.now();
  const view = pair.mirrorDir(VOLUME);
  await pair.waitCaughtUp(VOLUME, {
    minSeq: seqBefore + 1,
    timeoutMs: ctx.timeoutMs,
    check: async () => {
      for (const r of rewrites) {
        const data = await readFile(path.join(view, r.rel)).catch(() => undefined);
        if (!data?.equals(r.data)) return false;
      }
      return (await hashFile(path.join(view, bigRel)).catch(() => '')) === bigHash;
    },
  });
  const note = `${rewrites.length} small files rewritten, ${edits.length} blocks of 64 KiB changed in ${bigRel}`;
  ctx.log(`backup: ${note}; mirrored in ${since(started).toFixed(1)} s`);
  return note;
}

/** hindsightRestore times `hindsight backup restore` of backup `id` into a new directory. */
async function hindsightRestore(
  ctx: ScenarioContext,
  pair: HindsightPair,
  id: string,
  source: string,
  expected: string,
): Promise<Restored> {
  const into = path.join(ctx.runDir, 'hindsight-restore');
  const started = performance.now();
  await pair.mirror.cliOk(['backup', 'restore', VOLUME, '--id', id, '--into', into, '--json'], {
    timeoutMs: ctx.timeoutMs,
  });
  const seconds = since(started);
  ctx.log(`backup: hindsight restore ${seconds.toFixed(2)} s (${load()}); checking the tree`);
  return { seconds, problem: await differs(source, into, expected) };
}

/** resticRestore times `restic restore latest` into a new directory. */
async function resticRestore(
  ctx: ScenarioContext,
  restic: Restic,
  source: string,
  expected: string,
): Promise<Restored> {
  const target = path.join(ctx.runDir, 'restic-restore');
  const started = performance.now();
  await run('restic', ['restore', 'latest', '--target', target], ctx.timeoutMs, { env: restic.env });
  const seconds = since(started);
  ctx.log(`backup: restic restore ${seconds.toFixed(2)} s (${load()}); checking the tree`);
  // Older restic versions keep the absolute path of the backed-up directory below the target.
  const root = existsSync(path.join(target, source)) ? path.join(target, source) : target;
  return { seconds, problem: await differs(source, root, expected) };
}

/** differs is '' when the tree below `dir` hashes to `expected`, else a short diff against `source`. */
async function differs(source: string, dir: string, expected: string): Promise<string> {
  if ((await treeHash(dir)) === expected) return '';
  return diffListings(await treeListing(source), await treeListing(dir), 10);
}

/** mustEqual throws when the tree below `dir` does not hash to `expected`, the source's tree hash. */
async function mustEqual(source: string, dir: string, expected: string, what: string): Promise<void> {
  const problem = await differs(source, dir, expected);
  if (problem) throw new Error(`${what} differs from the source:\n${problem}`);
}

/** du is the space `dir` takes on disk (allocated blocks, as `du -sB1` counts them). */
async function du(ctx: ScenarioContext, dir: string): Promise<number> {
  return Number((await run('du', ['-sB1', dir], ctx.timeoutMs)).split('\t')[0]);
}

function since(started: number): number {
  return (performance.now() - started) / 1000;
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

function load(): string {
  return `load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}
