import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createRng, type Rng } from '../test/harness/workload.ts';
import { scaled } from './bench-config.ts';
import { volumeFile } from './bench-data.ts';
import { type BenchRow, fmt, row } from './bench-report.ts';
import { run } from './rsync-daemon.ts';
import type { ScanChildResult } from './scan-child.ts';
import type { ScenarioContext } from './scenario-context.ts';

const SCAN = 'i. capture scan, unchanged tree';
/** DEFAULT_TREE_FILES is the size of the trees of scan and burst at scale 1. */
export const DEFAULT_TREE_FILES = 1_000_000;
/** MIN_TREE_FILES keeps a tiny scale from making a tree too small to say anything. */
export const MIN_TREE_FILES = 1000;
/** PROGRESS_MS is how often a long phase prints where it stands. */
export const PROGRESS_MS = 5000;
/** SCAN_RUNS is how often each side scans the unchanged tree; the median run is reported. */
const SCAN_RUNS = 3;
/** SLICE_MS bounds a stretch of synchronous writes: the agents' output pipes must be drained. */
const SLICE_MS = 50;
const POOL_BYTES = 1 << 20;
const SCAN_CHILD = fileURLToPath(new URL('./scan-child.ts', import.meta.url));
const GNU_TIME = '/usr/bin/time';
/**
 * MEASURE_SH runs a command under GNU time (peak RSS into file $1, when given) and then prints
 * /proc/$$/io of the shell itself: a process's counters include its reaped children, so they
 * cover the command and everything it forked (rsync's generator and receiver).
 */
const MEASURE_SH = `t=$1; shift
if [ -n "$t" ]; then ${GNU_TIME} -f %M -o "$t" "$@"; else "$@"; fi
s=$?
cat /proc/$$/io
exit $s`;

/** GeneratedTree is a tree of small files: where it is and the size of each file (16–64 bytes). */
export interface GeneratedTree {
  dir: string;
  files: number;
  sizes: Uint8Array;
}

/** Measured is one process run the same way for both sides: wall time, peak RSS, I/O counters. */
interface Measured {
  seconds: number;
  /** GNU time's maximum RSS of the process and its children; null without /usr/bin/time. */
  rssPeakBytes: number | null;
  io: Record<string, number>;
  stdout: string;
}

/**
 * benchScan measures capture's scan of an unchanged tree of 1,000,000 small files (× BENCH_SCALE)
 * against `rsync -a --dry-run` of the same tree to a hard-linked copy, where rsync finds every file
 * identical. Each side runs as its own process (bench/scan-child.ts for Hindsight), SCAN_RUNS times,
 * alternately; the median is reported. The first scan that fills the catalog is logged, not timed.
 */
export async function benchScan(ctx: ScenarioContext): Promise<BenchRow[]> {
  const deadline = scenarioDeadline(ctx);
  const count = scaled(ctx.config, DEFAULT_TREE_FILES, MIN_TREE_FILES);
  const tree = await makeTree(ctx, 'scan', path.join(ctx.runDir, 'tree'), count, ctx.config.seed + 10);
  const state = path.join(ctx.runDir, 'scan-state');
  const scanArgs = (why: string) => [process.execPath, SCAN_CHILD, state, tree.dir, why];

  const copy = path.join(ctx.runDir, 'copy');
  const hasRsync = ctx.config.tools.rsync;
  // Before the first scan: a hard link changes the ctime of its file, which capture compares.
  if (hasRsync) {
    const started = performance.now();
    await run('cp', ['-al', tree.dir, copy], remaining(deadline));
    ctx.log(`scan: cp -al ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  ctx.log(`scan: first scan of ${fmt(count)} files, filling the catalog (not timed)`);
  const catalogBytes = () =>
    ['catalog.db', 'catalog.db-wal']
      .map((f) => statSync(path.join(state, f), { throwIfNoEntry: false })?.size ?? 0)
      .reduce((a, b) => a + b, 0);
  const fill = scanResult(
    await measure(ctx, scanArgs('start'), deadline, () => `catalog ${fmt(catalogBytes() / 1e6)} MB so far`),
  );
  ctx.log(
    `scan: first scan ${(fill.ms / 1000).toFixed(1)} s in the process (${fmt(count / (fill.ms / 1000))} files/s), ` +
      `${fill.entries} entries, ${fill.changed} changes, peak RSS ${mib(fill.rssPeakBytes)} MiB`,
  );
  if (fill.changed < count) throw new Error(`first scan recorded ${fill.changed} of ${count} files`);

  const ours: Measured[] = [];
  const theirs: Measured[] = [];
  const rsyncArgs = ['rsync', '-a', '--dry-run', '--itemize-changes', `${tree.dir}/`, `${copy}/`];
  for (let i = 0; i < SCAN_RUNS; i++) {
    const h = await measure(ctx, scanArgs('bench'), deadline);
    const r = scanResult(h);
    if (r.changed !== 0 || r.failed !== 0) throw new Error(`unchanged rescan: ${JSON.stringify(r)}`);
    ours.push(h);
    ctx.log(`scan: run ${i + 1} hindsight ${describe(h)}, in-process scan ${(r.ms / 1000).toFixed(2)} s`);
    if (!hasRsync) continue;
    const c = await measure(ctx, rsyncArgs, deadline);
    // With --itemize-changes rsync prints one line per item it would transfer: none is expected.
    if (c.stdout.trim() !== '') throw new Error(`rsync found differences:\n${c.stdout.slice(0, 2000)}`);
    theirs.push(c);
    ctx.log(`scan: run ${i + 1} rsync ${describe(c)}`);
  }
  return scanRows(count, median(ours), hasRsync ? median(theirs) : undefined, fill);
}

function scanRows(count: number, h: Measured, c: Measured | undefined, fill: ScanChildResult): BenchRow[] {
  const inProcess = scanResult(h).ms / 1000;
  const base = { scenario: SCAN, competitorName: c ? 'rsync -a --dry-run' : 'rsync (missing)' };
  const io = (m: Measured | undefined, key: string) => (m?.io[key] === undefined ? null : m.io[key]);
  return [
    row({
      ...base,
      metric: `scan unchanged ${fmt(count)} files`,
      unit: 'files/s',
      better: 'higher',
      hindsight: count / h.seconds,
      competitor: c ? count / c.seconds : null,
      note: `median of ${SCAN_RUNS} runs; first scan ${(fill.ms / 1000).toFixed(1)} s`,
    }),
    row({
      ...base,
      metric: 'time',
      unit: 's',
      better: 'lower',
      hindsight: h.seconds,
      competitor: c ? c.seconds : null,
      note: 'whole process, as seen from here',
    }),
    row({
      scenario: SCAN,
      metric: 'time, the scan alone',
      unit: 's',
      better: 'lower',
      hindsight: inProcess,
      competitor: null,
      competitorName: '-',
      note: 'inside scan-child: no process start, no catalog opening',
    }),
    row({
      ...base,
      metric: 'peak RSS',
      unit: 'MiB',
      better: 'lower',
      hindsight: h.rssPeakBytes === null ? null : h.rssPeakBytes / 1024 / 1024,
      competitor: c?.rssPeakBytes ? c.rssPeakBytes / 1024 / 1024 : null,
    }),
    row({
      ...base,
      metric: 'read syscalls (syscr)',
      unit: '',
      better: 'lower',
      hindsight: io(h, 'syscr'),
      competitor: io(c, 'syscr'),
    }),
    row({
      ...base,
      metric: 'bytes read (rchar)',
      unit: 'MB',
      better: 'lower',
      hindsight: (io(h, 'rchar') ?? Number.NaN) / 1e6,
      competitor: c ? (io(c, 'rchar') ?? Number.NaN) / 1e6 : null,
    }),
  ];
}

/**
 * makeTree writes `count` files of 16–64 random bytes below `dir`, 100 to a directory and 100
 * directories to a parent (bench-data's volumeFile), as fast as synchronous writes go, printing
 * progress; it yields to the event loop every SLICE_MS, so running agents' output is still read.
 */
export async function makeTree(
  ctx: ScenarioContext,
  label: string,
  dir: string,
  count: number,
  seed: number,
): Promise<GeneratedTree> {
  rmSync(dir, { recursive: true, force: true });
  const rng = createRng(seed);
  const bytes = randomBytes(seed + 1);
  const sizes = new Uint8Array(count);
  const started = performance.now();
  let lastLog = started;
  let sliceStart = started;
  for (let i = 0; i < count; i++) {
    const rel = volumeFile(i);
    if (i % 100 === 0) mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    sizes[i] = rng.int(16, 64);
    writeFileSync(path.join(dir, rel), bytes(sizes[i], rng));
    const now = performance.now();
    if (now - sliceStart > SLICE_MS) {
      await yieldLoop();
      sliceStart = performance.now();
    }
    if (now - lastLog > PROGRESS_MS) {
      ctx.log(`${label}: creating the tree, ${fmt(i + 1)} of ${fmt(count)} files`);
      lastLog = now;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  ctx.log(
    `${label}: tree of ${fmt(count)} files in ${seconds.toFixed(1)} s (${fmt(count / seconds)} files/s)`,
  );
  return { dir, files: count, sizes };
}

/**
 * randomBytes returns a source of random contents: `size` bytes at a random place of one pool made
 * from `seed`, cheap enough for a million small files (a cipher per file is not).
 */
export function randomBytes(seed: number): (size: number, rng: Rng) => Buffer {
  const pool = createRng(seed).bytes(POOL_BYTES);
  return (size, rng) => {
    const at = rng.int(0, POOL_BYTES - size);
    return pool.subarray(at, at + size);
  };
}

/**
 * measure runs `argv` under MEASURE_SH and returns its wall time (from spawn to exit, as seen
 * here), peak RSS and I/O counters; it fails when the command does, or when `deadline` passes.
 * With `progress`, it prints the elapsed time and what `progress` says every PROGRESS_MS.
 */
function measure(
  ctx: ScenarioContext,
  argv: string[],
  deadline: number,
  progress?: () => string,
): Promise<Measured> {
  const timeFile = existsSync(GNU_TIME) ? path.join(ctx.runDir, 'time.out') : '';
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const ticker = progress
      ? setInterval(() => {
          const seconds = ((performance.now() - started) / 1000).toFixed(0);
          ctx.log(`scan: ${path.basename(argv[1] ?? argv[0])} running for ${seconds} s; ${progress()}`);
        }, PROGRESS_MS)
      : undefined;
    const child = spawn('sh', ['-c', MEASURE_SH, 'sh', timeFile, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let exited = false;
    const kill = () => {
      if (exited) return;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    ctx.defer(kill);
    const timer = setTimeout(kill, remaining(deadline));
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const seconds = (performance.now() - started) / 1000;
      exited = true;
      clearTimeout(timer);
      clearInterval(ticker);
      if (code !== 0) {
        reject(new Error(`${argv.join(' ')} failed (${code ?? signal}):\n${(err + out).slice(-2000)}`));
        return;
      }
      const io: Record<string, number> = {};
      const lines: string[] = [];
      for (const line of out.split('\n')) {
        const m = /^(\w+): (\d+)$/.exec(line);
        if (m) io[m[1]] = Number(m[2]);
        else if (line !== '') lines.push(line);
      }
      const kib = timeFile ? Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop()) : Number.NaN;
      const rssPeakBytes = Number.isFinite(kib) ? kib * 1024 : null;
      resolve({ seconds, rssPeakBytes, io, stdout: lines.join('\n') });
    });
  });
}

function scanResult(m: Measured): ScanChildResult {
  const line = m.stdout.split('\n').find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`scan-child printed no result:\n${m.stdout.slice(0, 2000)}`);
  return JSON.parse(line) as ScanChildResult;
}

function median(runs: Measured[]): Measured {
  return [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)];
}

function describe(m: Measured): string {
  return (
    `${m.seconds.toFixed(2)} s, peak RSS ${mib(m.rssPeakBytes)} MiB, syscr ${fmt(m.io.syscr ?? null)}, ` +
    `rchar ${fmt((m.io.rchar ?? Number.NaN) / 1e6)} MB, read_bytes ${fmt((m.io.read_bytes ?? Number.NaN) / 1e6)} MB`
  );
}

function mib(bytes: number | null): string {
  return bytes === null ? '-' : (bytes / 1024 / 1024).toFixed(0);
}

/**
 * scenarioDeadline is when a scenario gives up waiting (performance.now() based): a little before
 * its budget ends, so that its own error, which says how far it got, comes before the runner's.
 */
export function scenarioDeadline(ctx: ScenarioContext): number {
  return performance.now() + ctx.timeoutMs - Math.min(10_000, ctx.timeoutMs / 10);
}

/** remaining is the time left until `deadline` (performance.now() based), at least one second. */
export function remaining(deadline: number): number {
  return Math.max(1000, deadline - performance.now());
}
