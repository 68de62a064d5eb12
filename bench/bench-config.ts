import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** ScenarioId names one benchmark scenario (see docs/benchmarks.md). */
export type ScenarioId =
  | 'large'
  | 'small'
  | 'delta'
  | 'latency'
  | 'sustained'
  | 'rewind'
  | 'backup'
  | 'scan'
  | 'burst';

/** ALL_SCENARIOS lists the scenarios in the order they run. */
export const ALL_SCENARIOS: ScenarioId[] = [
  'large',
  'small',
  'delta',
  'latency',
  'sustained',
  'rewind',
  'backup',
  'scan',
  'burst',
];

/**
 * CAPTURE_SCENARIOS run on a million files at scale 1: a 1,000,000-file burst trial alone takes
 * 20–30 minutes, so without $BENCH_STEP_TIMEOUT_S they get DEFAULT_CAPTURE_TIMEOUT_S. `backup`
 * (about 9 minutes at scale 1, data generation included) gets it too.
 */
const CAPTURE_SCENARIOS: readonly ScenarioId[] = ['scan', 'burst', 'backup'];
const DEFAULT_STEP_TIMEOUT_S = 600;
const DEFAULT_CAPTURE_TIMEOUT_S = 7200;

/** BenchConfig is everything a benchmark run reads from the environment. */
export interface BenchConfig {
  /** where data, runs and results.json live ($BENCH_DIR, default .bench in the repository). */
  dir: string;
  /** factor applied to every data size and count ($BENCH_SCALE, default 1). */
  scale: number;
  seed: number;
  scenarios: ScenarioId[];
  /** hard limit of one scenario in milliseconds ($BENCH_STEP_TIMEOUT_S, default 600 s). */
  stepTimeoutMs: number;
  /** hard limit of scan and burst ($BENCH_STEP_TIMEOUT_S when set, else 7,200 s). */
  captureTimeoutMs: number;
  /** tree sizes of the burst scenario, one trial each ($BENCH_BURST_SIZES; empty: 1,000,000 × scale). */
  burstSizes: number[];
  /** latency samples per system ($BENCH_LATENCY_SAMPLES, default 200). */
  latencySamples: number;
  /** samples of lsyncd with its default 15 s delay ($BENCH_LSYNCD_DEFAULT_SAMPLES, default 3). */
  lsyncdDefaultSamples: number;
  tools: { rsync: boolean; lsyncd: boolean; restic: boolean };
}

const REPO = fileURLToPath(new URL('..', import.meta.url));

/** readBenchConfig builds the BenchConfig from the environment and looks for rsync, lsyncd and restic. */
export function readBenchConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const num = (name: string, fallback: number) => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${v}`);
    return n;
  };
  // BENCH_SKIP_TOOLS=rsync,lsyncd,restic runs as if they were missing, to check the skipping path.
  const skip = (env.BENCH_SKIP_TOOLS ?? '').split(',');
  const only = (env.BENCH_ONLY ?? '').split(',').filter((s) => s !== '');
  for (const s of only) {
    if (!ALL_SCENARIOS.includes(s as ScenarioId)) throw new Error(`BENCH_ONLY: unknown scenario ${s}`);
  }
  return {
    dir: path.resolve(env.BENCH_DIR ?? path.join(REPO, '.bench')),
    scale: num('BENCH_SCALE', 1),
    seed: num('BENCH_SEED', 20240601) >>> 0,
    scenarios: only.length > 0 ? (only as ScenarioId[]) : ALL_SCENARIOS,
    stepTimeoutMs: num('BENCH_STEP_TIMEOUT_S', DEFAULT_STEP_TIMEOUT_S) * 1000,
    captureTimeoutMs: num('BENCH_STEP_TIMEOUT_S', DEFAULT_CAPTURE_TIMEOUT_S) * 1000,
    burstSizes: counts('BENCH_BURST_SIZES', env.BENCH_BURST_SIZES),
    latencySamples: Math.round(num('BENCH_LATENCY_SAMPLES', 200)),
    lsyncdDefaultSamples: Math.round(num('BENCH_LSYNCD_DEFAULT_SAMPLES', 3)),
    tools: {
      rsync: !skip.includes('rsync') && hasTool('rsync', ['--version']),
      lsyncd: !skip.includes('lsyncd') && hasTool('lsyncd', ['--version']),
      restic: !skip.includes('restic') && hasTool('restic', ['version']),
    },
  };
}

/** timeoutOf is the hard limit of scenario `id` in milliseconds. */
export function timeoutOf(config: BenchConfig, id: ScenarioId): number {
  return CAPTURE_SCENARIOS.includes(id) ? config.captureTimeoutMs : config.stepTimeoutMs;
}

/** scaled returns max(min, round(n × scale)), so a small scale never reaches zero. */
export function scaled(config: BenchConfig, n: number, min = 1): number {
  return Math.max(min, Math.round(n * config.scale));
}

/** counts parses a comma-separated list of positive integers ("100000,1000000"); empty gives []. */
function counts(name: string, value: string | undefined): number[] {
  const parts = (value ?? '').split(',').filter((s) => s.trim() !== '');
  return parts.map((s) => {
    const n = Number(s.replace(/_/g, ''));
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must list positive integers, got ${s}`);
    return n;
  });
}

function hasTool(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}
