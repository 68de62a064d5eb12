import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { treeHash, treeListing } from '../test/harness/cluster.ts';
import { diffListings } from '../test/harness/tree-hash.ts';
import type { BenchConfig } from './bench-config.ts';
import { type BenchRow, row } from './bench-report.ts';
import type { HindsightPair } from './hindsight-pair.ts';
import type { RsyncDaemon } from './rsync-daemon.ts';

/**
 * ScenarioContext is what a benchmark scenario gets: the configuration, its own run directory,
 * the shared rsync daemon (absent when rsync is missing), a time budget, and `defer` to register
 * clean-up that runs even when the scenario fails or overruns its budget.
 */
export interface ScenarioContext {
  config: BenchConfig;
  runDir: string;
  rsync: RsyncDaemon | undefined;
  /** timeoutMs is the scenario's whole budget; individual waits use at most this. */
  timeoutMs: number;
  defer(cleanup: () => unknown): void;
  log(message: string): void;
}

/** countFiles counts regular files below `dir` without stat calls, for cheap convergence polls. */
export async function countFiles(dir: string): Promise<number> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).length;
  } catch {
    return 0;
  }
}

/** verifyTrees compares two trees by tree hash and returns '' when equal, else a short diff. */
export async function verifyTrees(primary: string, mirror: string): Promise<string> {
  const [a, b] = await Promise.all([treeHash(primary), treeHash(mirror)]);
  if (a === b) return '';
  return diffListings(await treeListing(primary), await treeListing(mirror), 10);
}

/** rssRows reports the peak resident memory of both agents of a pair, in MiB. */
export function rssRows(scenario: string, pair: HindsightPair): BenchRow[] {
  const rss = pair.peakRss();
  const mib = (b: number) => (b > 0 ? b / 1024 / 1024 : null);
  return [
    row({
      scenario,
      metric: 'peak RSS primary',
      unit: 'MiB',
      better: 'lower',
      hindsight: mib(rss.primary),
      competitor: null,
      competitorName: '-',
    }),
    row({
      scenario,
      metric: 'peak RSS mirror',
      unit: 'MiB',
      better: 'lower',
      hindsight: mib(rss.mirror),
      competitor: null,
      competitorName: '-',
    }),
  ];
}

/** subDir joins a scenario's run directory with `name`. */
export function subDir(ctx: ScenarioContext, name: string): string {
  return path.join(ctx.runDir, name);
}
