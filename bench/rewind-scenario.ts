import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { diffListings, type TreeRecord, treeListing } from '../test/harness/tree-hash.ts';
import { createRng } from '../test/harness/workload.ts';
import { volumeFile, volumeFiles } from './bench-data.ts';
import { type BenchRow, row } from './bench-report.ts';
import { HindsightPair } from './hindsight-pair.ts';
import { run } from './rsync-daemon.ts';
import { countFiles, rssRows, type ScenarioContext } from './scenario-context.ts';

const REWIND = 'g. rewind, 1 % of files changed';
const PREVIEW = 'h. preview of the whole volume';
const VOLUME = 'rewind';
/** QUIET_MS separates the moment rewound to from the first change after it. */
const QUIET_MS = 1500;

/** Timing is how long one system took for a step, and what was wrong with its result ('' if nothing). */
interface Timing {
  seconds: number;
  problem: string;
}

/** Rewrite is one file of the volume and the new content it was given after T1. */
interface Rewrite {
  rel: string;
  data: Buffer;
}

/**
 * benchRewind measures going back in time on the mirror. A volume of 100,000 files of 1–4 KiB
 * (× BENCH_SCALE) is mirrored; T1 is noted; then 1 % of the files are rewritten and mirrored.
 * Timed: `hindsight rewind --to T1` of the mirror's view (in place, only what changed), and
 * `hindsight preview --at T1` of the whole volume into a new directory, against `restic restore`
 * of a backup taken at T1 and `rsync -a` of the tree at T1 to a local directory. Every result
 * must equal the tree at T1, compared outside the timing.
 */
export async function benchRewind(ctx: ScenarioContext): Promise<BenchRow[]> {
  const source = path.join(ctx.runDir, 'volume');
  const data = await volumeFiles(ctx.config, source);
  ctx.log(`rewind: ${data.files} files, ${(data.bytes / 1e6).toFixed(0)} MB in ${source}`);

  const pair = await HindsightPair.start(path.join(ctx.runDir, 'pair'));
  ctx.defer(() => pair.close());
  const view = pair.mirrorDir(VOLUME);
  ctx.log('rewind: mirroring the volume (initial copy, not part of the figures)');
  const copyStarted = performance.now();
  await pair.addVolume(VOLUME, source);
  const copiedAt = await pair.waitCaughtUp(VOLUME, {
    minSeq: 1,
    timeoutMs: ctx.timeoutMs,
    check: async () => (await countFiles(view)) >= data.files,
  });
  const t1 = Date.now();
  ctx.log(`rewind: initial copy ${seconds(copyStarted, copiedAt).toFixed(1)} s; T1 = ${t1}`);

  // The tree at T1, and the competitors' copies of it, taken before anything changes.
  const atT1 = await treeListing(source);
  const rsync = ctx.config.tools.rsync ? await rsyncLocal(ctx, source, atT1) : undefined;
  const restic = ctx.config.tools.restic ? await resticBackup(ctx, source) : undefined;

  await sleep(Math.max(0, t1 + QUIET_MS - Date.now()));
  const seqBefore = await pair.lastSeq(VOLUME);
  const rewrites = await rewriteSome(ctx, source, data.files);
  await pair.waitCaughtUp(VOLUME, {
    minSeq: seqBefore + 1,
    timeoutMs: ctx.timeoutMs,
    check: () => holds(view, rewrites),
  });
  ctx.log(`rewind: ${rewrites.length} files rewritten and mirrored; rewinding the view to T1`);

  let started = performance.now();
  const rewound = JSON.parse(
    await pair.mirror.cliOk(['rewind', VOLUME, '--to', String(t1), '--json'], { timeoutMs: ctx.timeoutMs }),
  ) as { seq: number; views: { written: number; removed: number }[] };
  const rewind: Timing = { seconds: seconds(started, performance.now()), problem: '' };
  rewind.problem = await differs(view, atT1);
  ctx.log(`rewind: ${rewind.seconds.toFixed(2)} s to seq ${rewound.seq} (${JSON.stringify(rewound.views)})`);

  const into = path.join(ctx.runDir, 'preview');
  started = performance.now();
  const previewed = JSON.parse(
    await pair.mirror.cliOk(['preview', VOLUME, '--at', String(t1), '--into', into, '--json'], {
      timeoutMs: ctx.timeoutMs,
    }),
  ) as { seq: number; written: number };
  const preview: Timing = { seconds: seconds(started, performance.now()), problem: '' };
  preview.problem = await differs(into, atT1);
  ctx.log(`rewind: preview ${preview.seconds.toFixed(2)} s, ${previewed.written} entries`);

  const restore = restic ? await resticRestore(ctx, restic, source, atT1) : undefined;
  const written = rewound.views.map((v) => `${v.written} written, ${v.removed} removed`).join('; ');
  return [
    ...rewindRows(rewind, rewrites.length, data.files, written),
    ...previewRows(preview, data.files, restore, restic ? 'restic restore' : 'restic (missing)'),
    ...previewRows(preview, data.files, rsync, rsync ? 'rsync -a, local' : 'rsync (missing)'),
    ...rssRows(REWIND, pair),
  ];
}

function rewindRows(rewind: Timing, changed: number, files: number, written: string): BenchRow[] {
  const failed = rewind.problem !== '';
  const base = {
    scenario: REWIND,
    competitor: null,
    competitorName: '-',
    status: failed ? ('failed' as const) : ('ok' as const),
  };
  return [
    row({
      ...base,
      metric: 'time',
      unit: 's',
      better: 'lower',
      hindsight: rewind.seconds,
      note: failed ? `view differs from T1:\n${rewind.problem}` : `${changed} of ${files} files; ${written}`,
    }),
    row({
      ...base,
      metric: 'changed files',
      unit: 'files/s',
      better: 'higher',
      hindsight: failed ? null : changed / rewind.seconds,
    }),
    row({
      ...base,
      metric: 'effective (volume files)',
      unit: 'files/s',
      better: 'higher',
      hindsight: failed ? null : files / rewind.seconds,
    }),
  ];
}

function previewRows(
  preview: Timing,
  files: number,
  competitor: Timing | undefined,
  competitorName: string,
): BenchRow[] {
  const failed = preview.problem !== '';
  const theirs = competitor && !competitor.problem ? competitor : undefined;
  const note = failed
    ? `preview differs from T1:\n${preview.problem}`
    : competitor?.problem
      ? `${competitorName} differs from T1:\n${competitor.problem}`
      : undefined;
  const base = { scenario: PREVIEW, competitorName, status: failed ? ('failed' as const) : ('ok' as const) };
  return [
    row({
      ...base,
      metric: 'time',
      unit: 's',
      better: 'lower',
      hindsight: preview.seconds,
      competitor: theirs ? theirs.seconds : null,
      note,
    }),
    row({
      ...base,
      metric: 'throughput',
      unit: 'files/s',
      better: 'higher',
      hindsight: failed ? null : files / preview.seconds,
      competitor: theirs ? files / theirs.seconds : null,
    }),
  ];
}

/** rewriteSome gives 1 % of the volume's files (chosen from the seed) new content of 1–4 KiB. */
async function rewriteSome(ctx: ScenarioContext, source: string, files: number): Promise<Rewrite[]> {
  const rng = createRng(ctx.config.seed + 7);
  const chosen = new Set<number>();
  const count = Math.max(1, Math.round(files / 100));
  while (chosen.size < count) chosen.add(rng.int(0, files - 1));
  const rewrites: Rewrite[] = [];
  for (const i of [...chosen].sort((a, b) => a - b)) {
    const r = { rel: volumeFile(i), data: rng.bytes(rng.int(1024, 4096)) };
    await writeFile(path.join(source, r.rel), r.data);
    rewrites.push(r);
  }
  return rewrites;
}

/** holds tells whether every rewritten file has its new content in `dir`. */
async function holds(dir: string, rewrites: Rewrite[]): Promise<boolean> {
  for (const r of rewrites) {
    const data = await readFile(path.join(dir, r.rel)).catch(() => undefined);
    if (!data?.equals(r.data)) return false;
  }
  return true;
}

/** differs compares the tree below `dir` with the listing at T1: '' when equal, else a short diff. */
async function differs(dir: string, atT1: TreeRecord[]): Promise<string> {
  return diffListings(atT1, await treeListing(dir), 10);
}

/** rsyncLocal times `rsync -a` of the tree at T1 into a new local directory: a full copy. */
async function rsyncLocal(ctx: ScenarioContext, source: string, atT1: TreeRecord[]): Promise<Timing> {
  const target = path.join(ctx.runDir, 'rsync-copy');
  const started = performance.now();
  await run('rsync', ['-a', `${source}/`, `${target}/`], ctx.timeoutMs);
  const timing = { seconds: seconds(started, performance.now()), problem: await differs(target, atT1) };
  ctx.log(`rewind: rsync -a local copy ${timing.seconds.toFixed(2)} s`);
  return timing;
}

/** ResticRepo is a local restic repository holding one backup of the tree at T1. */
interface ResticRepo {
  env: Record<string, string>;
}

async function resticBackup(ctx: ScenarioContext, source: string): Promise<ResticRepo> {
  const env = {
    RESTIC_REPOSITORY: path.join(ctx.runDir, 'restic-repo'),
    RESTIC_PASSWORD: 'bench',
    RESTIC_CACHE_DIR: path.join(ctx.runDir, 'restic-cache'),
  };
  await run('restic', ['init'], ctx.timeoutMs, { env });
  const started = performance.now();
  // A relative '.' stores the tree at the snapshot's root, so a restore lands in --target itself.
  await run('restic', ['backup', '--quiet', '.'], ctx.timeoutMs, { env, cwd: source });
  ctx.log(`rewind: restic backup ${seconds(started, performance.now()).toFixed(2)} s`);
  return { env };
}

async function resticRestore(
  ctx: ScenarioContext,
  repo: ResticRepo,
  source: string,
  atT1: TreeRecord[],
): Promise<Timing> {
  const target = path.join(ctx.runDir, 'restic-restore');
  const started = performance.now();
  await run('restic', ['restore', 'latest', '--target', target], ctx.timeoutMs, { env: repo.env });
  const s = seconds(started, performance.now());
  ctx.log(`rewind: restic restore ${s.toFixed(2)} s`);
  // Older restic versions keep the absolute path of the backed-up directory below the target.
  const root = existsSync(path.join(target, source)) ? path.join(target, source) : target;
  return { seconds: s, problem: await differs(root, atT1) };
}

function seconds(from: number, to: number): number {
  return (to - from) / 1000;
}
