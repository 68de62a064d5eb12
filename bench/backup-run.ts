/**
 * backup-run.ts runs the backup scenario (k, Hindsight's backups against restic) on its own,
 * with the same environment as `npm run bench` (BENCH_DIR, BENCH_SCALE, BENCH_SEED,
 * BENCH_STEP_TIMEOUT_S, BENCH_SKIP_TOOLS), until run.ts registers it:
 *
 *     BENCH_SCALE=0.25 node_modules/.bin/node bench/backup-run.ts
 *
 * It prints the table and the load average before and after, since both matter on a shared machine.
 */
import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withDeadline } from '../test/harness/cluster.ts';
import { benchBackup } from './backup-scenario.ts';
import { readBenchConfig } from './bench-config.ts';
import { type BenchRow, failedRow, formatTable } from './bench-report.ts';
import type { ScenarioContext } from './scenario-context.ts';

const CLEANUP_TIMEOUT_MS = 30_000;

async function main(): Promise<void> {
  const config = readBenchConfig();
  const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);
  const runDir = path.join(config.dir, 'run', 'backup');
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  log(`dir ${config.dir}, scale ${config.scale}, seed ${config.seed}, scenario backup, ${loadAvg()}`);
  if (!config.tools.restic) log('MISSING: restic — its column is SKIPPED (apt-get install restic)');

  const cleanups: (() => unknown)[] = [];
  let cleaned = false;
  const ctx: ScenarioContext = {
    config,
    runDir,
    rsync: undefined,
    timeoutMs: config.stepTimeoutMs,
    // As in run.ts: what a scenario registers after its deadline passed is cleaned up at once.
    defer: (fn) =>
      cleaned
        ? void Promise.resolve()
            .then(fn)
            .catch(() => {})
        : cleanups.push(fn),
    log,
  };
  const started = performance.now();
  let rows: BenchRow[];
  try {
    rows = await withDeadline(benchBackup(ctx), ctx.timeoutMs, 'scenario backup');
    log(`scenario backup: done in ${((performance.now() - started) / 1000).toFixed(1)} s, ${loadAvg()}`);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log(`scenario backup: FAILED: ${message}`);
    rows = [failedRow('backup', 'failed', message.split('\n')[0])];
  }
  cleaned = true;
  for (const fn of cleanups.reverse()) {
    try {
      await withDeadline(Promise.resolve().then(fn), CLEANUP_TIMEOUT_MS, 'clean-up of backup');
    } catch (err) {
      const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
      log(`scenario backup: clean-up: ${message}`);
      rows.push(failedRow('backup', 'failed', `clean-up: ${message}`));
    }
  }
  rmSync(runDir, { recursive: true, force: true });
  process.stdout.write(
    `\n${formatTable(rows)}\n\nratio = hindsight / competitor; ↑ higher is better, ↓ lower is better\n`,
  );
  if (rows.some((r) => r.status === 'failed')) process.exitCode = 1;
}

function loadAvg(): string {
  return `load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')}`;
}

await main();
// A scenario abandoned at its deadline may still hold timers; the run is over, so end it.
process.exit();
