import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../test/harness/cluster.ts';
import { createRng } from '../test/harness/workload.ts';
import { scaled } from './bench-config.ts';
import { type BenchRow, percentile, row } from './bench-report.ts';
import { HindsightPair } from './hindsight-pair.ts';
import { Lsyncd } from './lsyncd.ts';
import { countFiles, rssRows, type ScenarioContext, verifyTrees } from './scenario-context.ts';

const LATENCY = 'd. write → durable on mirror';
const SUSTAINED = 'e. sustained small-file changes';
const SMALL_FILE = 4096;
const SAMPLE_TIMEOUT_MS = 60_000;

/** Samples are the write-to-arrival latencies of one system, in milliseconds. */
interface Samples {
  ms: number[];
  timeouts: number;
}

/**
 * benchLatency writes small files one at a time and measures until each is in the mirror's
 * directory at full size (fs.stat polled every millisecond): Hindsight against lsyncd with its
 * default settings (few samples: it aggregates for 15 s) and with delay 0.
 */
export async function benchLatency(ctx: ScenarioContext): Promise<BenchRow[]> {
  const n = ctx.config.latencySamples;
  const pair = await startWithEmptyVolume(ctx, 'latency');
  const h = await measure(pair.source, pair.pair.mirrorDir('latency'), n, ctx);
  const rows: BenchRow[] = [];
  const lsyncd: [string, number | undefined, number][] = [
    ['lsyncd default', undefined, ctx.config.lsyncdDefaultSamples],
    ['lsyncd delay 0', 0, n],
  ].slice(0, ctx.config.tools.lsyncd ? 2 : 1) as [string, number | undefined, number][];
  for (const [name, delay, samples] of lsyncd) {
    let l: Samples | undefined;
    if (ctx.config.tools.lsyncd) {
      const dir = path.join(ctx.runDir, name.replace(/ /g, '-'));
      rmSync(dir, { recursive: true, force: true });
      const daemon = await Lsyncd.start(dir, { delay });
      ctx.defer(() => daemon.stop());
      l = await measure(daemon.source, daemon.target, samples, ctx);
      daemon.stop();
    }
    const competitorName = l ? `${name} (${samples})` : 'lsyncd (missing)';
    for (const p of [50, 99]) {
      rows.push(
        row({
          scenario: LATENCY,
          metric: `p${p}`,
          unit: 'ms',
          better: 'lower',
          hindsight: h.timeouts > 0 ? null : percentile(h.ms, p),
          competitor: l && l.timeouts === 0 ? percentile(l.ms, p) : null,
          competitorName,
          status: h.timeouts > 0 ? 'failed' : 'ok',
          note: h.timeouts > 0 ? `${h.timeouts} of ${n} writes never arrived` : `${n} samples`,
        }),
      );
    }
  }
  rows.push(...rssRows(LATENCY, pair.pair));
  return rows;
}

/**
 * benchSustained writes 20,000 small files (× BENCH_SCALE) as fast as it can and measures until
 * the mirror holds them all, end to end, in files per second.
 */
export async function benchSustained(ctx: ScenarioContext): Promise<BenchRow[]> {
  const count = scaled(ctx.config, 20_000, 10);
  const { pair, source } = await startWithEmptyVolume(ctx, 'sustained');
  const mirrorDir = pair.mirrorDir('sustained');
  const rng = createRng(ctx.config.seed + 4);
  const before = await countFiles(mirrorDir);
  const seqBefore = await pair.lastSeq('sustained');
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const sub = path.join(source, `burst-${Math.floor(i / 1000)}`);
    if (i % 1000 === 0) mkdirSync(sub, { recursive: true });
    await writeFile(path.join(sub, `f${i}.dat`), rng.bytes(rng.int(1024, 8192)));
  }
  const written = performance.now();
  const doneAt = await pair.waitCaughtUp('sustained', {
    minSeq: seqBefore + 1,
    timeoutMs: ctx.timeoutMs,
    check: async () => (await countFiles(mirrorDir)) >= before + count,
  });
  const seconds = (doneAt - started) / 1000;
  const problem = await verifyTrees(source, mirrorDir);
  ctx.log(
    `sustained: wrote ${count} files in ${((written - started) / 1000).toFixed(2)} s, mirrored in ${seconds.toFixed(2)} s`,
  );
  return [
    row({
      scenario: SUSTAINED,
      metric: 'end to end',
      unit: 'files/s',
      better: 'higher',
      hindsight: problem ? null : count / seconds,
      competitor: null,
      competitorName: 'target 2,000',
      status: problem ? 'failed' : 'ok',
      note: problem
        ? `mirror differs:\n${problem}`
        : `${count} files, writer alone ${fmtRate(count, written - started)}`,
    }),
    ...rssRows(SUSTAINED, pair),
  ];
}

async function startWithEmptyVolume(ctx: ScenarioContext, name: string) {
  const source = path.join(ctx.runDir, `${name}-source`);
  rmSync(source, { recursive: true, force: true });
  mkdirSync(source, { recursive: true });
  writeFileSync(path.join(source, 'ready'), 'x');
  const pair = await HindsightPair.start(path.join(ctx.runDir, `${name}-pair`));
  ctx.defer(() => pair.close());
  await pair.addVolume(name, source);
  await pair.waitCaughtUp(name, {
    minSeq: 1,
    timeoutMs: ctx.timeoutMs,
    check: async () => (await countFiles(pair.mirrorDir(name))) >= 1,
  });
  return { pair, source };
}

async function measure(source: string, target: string, n: number, ctx: ScenarioContext): Promise<Samples> {
  const out: Samples = { ms: [], timeouts: 0 };
  const rng = createRng(ctx.config.seed + 5);
  const dir = `lat-${Date.now()}`;
  mkdirSync(path.join(source, dir));
  // Let the new directory itself reach the mirror first, so samples measure files only.
  await waitFor(() => stat(path.join(target, dir)).then(() => true), {
    timeoutMs: SAMPLE_TIMEOUT_MS,
    intervalMs: 5,
  });
  for (let i = 0; i < n; i++) {
    const rel = path.join(dir, `s${i}.dat`);
    const started = performance.now();
    await writeFile(path.join(source, rel), rng.bytes(SMALL_FILE));
    const arrived = await arrival(path.join(target, rel), started + SAMPLE_TIMEOUT_MS);
    if (arrived === undefined) out.timeouts++;
    else out.ms.push(arrived - started);
    if (out.timeouts > 2) break;
  }
  return out;
}

async function arrival(file: string, deadline: number): Promise<number | undefined> {
  while (performance.now() < deadline) {
    const st = await stat(file).catch(() => undefined);
    if (st?.size === SMALL_FILE) return performance.now();
    await sleep(1);
  }
  return undefined;
}

function fmtRate(count: number, ms: number): string {
  return `${Math.round(count / (ms / 1000))} files/s`;
}
