/**
 * run.ts is `npm run bench`: it generates data under $BENCH_DIR (default .bench), runs every
 * scenario with Hindsight and its competitor side by side, prints a table of the figures and
 * their ratios, and writes them to $BENCH_DIR/results.json. See docs/benchmarks.md.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withDeadline } from '../test/harness/cluster.ts';
import { benchBackup } from './backup-scenario.ts';
import { type BenchConfig, readBenchConfig, type ScenarioId, timeoutOf } from './bench-config.ts';
import { type BenchRow, failedRow, formatTable } from './bench-report.ts';
import { benchBurst } from './burst-scenario.ts';
import { benchScan } from './capture-scenarios.ts';
import { benchLargeCopy, benchSmallCopy } from './copy-scenarios.ts';
import { benchDelta } from './delta-scenario.ts';
import { benchLatency, benchSustained } from './latency-scenarios.ts';
import { benchRewind } from './rewind-scenario.ts';
import { RsyncDaemon } from './rsync-daemon.ts';
import type { ScenarioContext } from './scenario-context.ts';

const SCENARIOS: Record<ScenarioId, (ctx: ScenarioContext) => Promise<BenchRow[]>> = {
  large: benchLargeCopy,
  small: benchSmallCopy,
  delta: benchDelta,
  latency: benchLatency,
  sustained: benchSustained,
  rewind: benchRewind,
  scan: benchScan,
  burst: benchBurst,
  backup: benchBackup,
};
const CLEANUP_TIMEOUT_MS = 30_000;

async function main(): Promise<void> {
  const config = readBenchConfig();
  const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);
  mkdirSync(config.dir, { recursive: true });
  log(
    `dir ${config.dir}, scale ${config.scale}, seed ${config.seed}, scenarios ${config.scenarios.join(',')}`,
  );
  warnMissingTools(config, log);

  const rows: BenchRow[] = [];
  let rsync: RsyncDaemon | undefined;
  if (config.tools.rsync) rsync = await RsyncDaemon.start(path.join(config.dir, 'rsyncd'));
  try {
    for (const id of config.scenarios) rows.push(...(await runScenario(id, config, rsync, log)));
  } finally {
    await rsync?.stop();
    if (rsync) rmSync(rsync.target, { recursive: true, force: true });
  }

  const table = formatTable(rows);
  process.stdout.write(
    `\n${table}\n\nratio = hindsight / competitor; ↑ higher is better, ↓ lower is better\n`,
  );
  const results = {
    at: new Date().toISOString(),
    host: { cpus: os.cpus().length, memoryBytes: os.totalmem(), kernel: os.release(), node: process.version },
    config: { ...config },
    rows,
  };
  const file = path.join(config.dir, 'results.json');
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`results written to ${file}`);
  if (rows.some((r) => r.status === 'failed')) process.exitCode = 1;
}

async function runScenario(
  id: ScenarioId,
  config: BenchConfig,
  rsync: RsyncDaemon | undefined,
  log: (m: string) => void,
): Promise<BenchRow[]> {
  const runDir = path.join(config.dir, 'run', id);
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const cleanups: (() => unknown)[] = [];
  let cleaned = false;
  const timeoutMs = timeoutOf(config, id);
  const ctx: ScenarioContext = {
    config,
    runDir,
    rsync,
    timeoutMs,
    // A scenario that overran its budget still runs; what it starts after clean-up stops at once.
    defer: (fn) =>
      cleaned
        ? void Promise.resolve()
            .then(fn)
            .catch(() => {})
        : cleanups.push(fn),
    log: (m) => log(m),
  };
  log(`scenario ${id}: start`);
  const started = performance.now();
  let rows: BenchRow[];
  try {
    rows = await withDeadline(SCENARIOS[id](ctx), timeoutMs, `scenario ${id}`);
    log(`scenario ${id}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log(`scenario ${id}: FAILED: ${message}`);
    rows = [failedRow(id, 'failed', message.split('\n')[0])];
  }
  cleaned = true;
  for (const fn of cleanups.reverse()) {
    try {
      await withDeadline(Promise.resolve().then(fn), CLEANUP_TIMEOUT_MS, `clean-up of ${id}`);
    } catch (err) {
      log(`scenario ${id}: clean-up: ${err instanceof Error ? err.message : String(err)}`);
      rows.push(
        failedRow(id, 'failed', `clean-up: ${err instanceof Error ? err.message.split('\n')[0] : err}`),
      );
    }
  }
  rmSync(runDir, { recursive: true, force: true });
  return rows;
}

function warnMissingTools(config: BenchConfig, log: (m: string) => void): void {
  const missing = Object.entries(config.tools)
    .filter(([, present]) => !present)
    .map(([name]) => name);
  if (missing.length === 0) return;
  const bar = '!'.repeat(72);
  log(bar);
  log(`MISSING: ${missing.join(', ')} — the comparisons with them are SKIPPED.`);
  log(`Install with: apt-get install ${missing.join(' ')}`);
  log(bar);
}

await main();
// A scenario abandoned at its deadline may still hold timers; the run is over, so end it.
process.exit();
