import { rmSync } from 'node:fs';
import path from 'node:path';
import { type DataSet, largeFiles, smallFiles } from './bench-data.ts';
import { type BenchRow, row } from './bench-report.ts';
import { HindsightPair } from './hindsight-pair.ts';
import { run } from './rsync-daemon.ts';
import { countFiles, rssRows, type ScenarioContext, verifyTrees } from './scenario-context.ts';

/** CopyTiming is how long one system took to copy a data set, and whether the copy verified. */
interface CopyTiming {
  seconds: number;
  problem: string;
}

/**
 * benchLargeCopy measures the initial copy of ~2 GiB in 20 files (× BENCH_SCALE): Hindsight from
 * `volume add` until the mirror reports everything applied, against `rsync -a` to an rsync daemon.
 */
export async function benchLargeCopy(ctx: ScenarioContext): Promise<BenchRow[]> {
  const data = await largeFiles(ctx.config);
  ctx.log(`large: ${data.files} files, ${(data.bytes / 1e6).toFixed(0)} MB in ${data.dir}`);
  return copyRows(ctx, 'a. initial copy, large files', 'large', data, (s) => data.bytes / 1e6 / s, 'MB/s');
}

/** benchSmallCopy measures the initial copy of 50,000 files of 1–8 KiB (× BENCH_SCALE) the same way. */
export async function benchSmallCopy(ctx: ScenarioContext): Promise<BenchRow[]> {
  const data = await smallFiles(ctx.config);
  ctx.log(`small: ${data.files} files, ${(data.bytes / 1e6).toFixed(0)} MB in ${data.dir}`);
  return copyRows(ctx, 'b. initial copy, small files', 'small', data, (s) => data.files / s, 'files/s');
}

async function copyRows(
  ctx: ScenarioContext,
  scenario: string,
  name: string,
  data: DataSet,
  rate: (seconds: number) => number,
  unit: string,
): Promise<BenchRow[]> {
  const rsync = ctx.rsync === undefined ? undefined : await rsyncCopy(ctx, name, data, false);
  const durable = ctx.rsync === undefined ? undefined : await rsyncCopy(ctx, name, data, true);
  const pair = await HindsightPair.start(path.join(ctx.runDir, name));
  ctx.defer(() => pair.close());
  await syncPageCache();
  const started = performance.now();
  await pair.addVolume(name, data.dir);
  const mirrorDir = pair.mirrorDir(name);
  const doneAt = await pair.waitCaughtUp(name, {
    minSeq: 1,
    timeoutMs: ctx.timeoutMs,
    check: async () => (await countFiles(mirrorDir)) >= data.files,
  });
  const hindsight: CopyTiming = { seconds: (doneAt - started) / 1000, problem: '' };
  ctx.log(`${name}: hindsight ${hindsight.seconds.toFixed(2)} s; verifying tree hash`);
  hindsight.problem = await verifyTrees(data.dir, mirrorDir);
  const rows = [
    row({
      scenario,
      metric: 'throughput',
      unit,
      better: 'higher',
      hindsight: hindsight.problem ? null : rate(hindsight.seconds),
      competitor: rsync && !rsync.problem ? rate(rsync.seconds) : null,
      competitorName: rsync ? 'rsync daemon' : 'rsync (missing)',
      status: hindsight.problem ? 'failed' : 'ok',
      note: hindsight.problem ? `mirror differs:\n${hindsight.problem}` : undefined,
    }),
    row({
      scenario,
      metric: 'throughput',
      unit,
      better: 'higher',
      hindsight: hindsight.problem ? null : rate(hindsight.seconds),
      competitor: durable && !durable.problem ? rate(durable.seconds) : null,
      competitorName: durable ? 'rsync daemon + sync' : 'rsync (missing)',
      status: hindsight.problem ? 'failed' : 'ok',
    }),
    row({
      scenario,
      metric: 'time',
      unit: 's',
      better: 'lower',
      hindsight: hindsight.seconds,
      competitor: rsync ? rsync.seconds : null,
      competitorName: rsync ? 'rsync daemon' : 'rsync (missing)',
    }),
    row({
      scenario,
      metric: 'time',
      unit: 's',
      better: 'lower',
      hindsight: hindsight.seconds,
      competitor: durable ? durable.seconds : null,
      competitorName: durable ? 'rsync daemon + sync' : 'rsync (missing)',
    }),
    ...rssRows(scenario, pair),
  ];
  rmSync(mirrorDir, { recursive: true, force: true });
  return rows;
}

/** rsyncCopy copies the data set into an empty target of the daemon, with `sync -f` of it inside the timing when `durable`. */
async function rsyncCopy(
  ctx: ScenarioContext,
  name: string,
  data: DataSet,
  durable: boolean,
): Promise<CopyTiming> {
  const target = path.join(ctx.rsync!.target, name);
  rmSync(target, { recursive: true, force: true });
  const r = await ctx.rsync!.push(data.dir, name, ctx.timeoutMs, { durable });
  ctx.log(`${name}: rsync${durable ? ' + sync' : ''} ${r.seconds.toFixed(2)} s, ${r.bytesSent} bytes sent`);
  const problem = await verifyTrees(data.dir, target);
  rmSync(target, { recursive: true, force: true });
  return { seconds: r.seconds, problem };
}

/** syncPageCache writes back every dirty page, so that a timed step does not pay for an earlier one's writes. */
async function syncPageCache(): Promise<void> {
  await run('sync', [], 600_000);
}
