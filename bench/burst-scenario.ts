import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep, setImmediate as yieldLoop } from 'node:timers/promises';
import { findVolume, isCaughtUp, type StatusJson } from '../test/harness/cluster.ts';
import { createRng } from '../test/harness/workload.ts';
import { scaled } from './bench-config.ts';
import { volumeFile } from './bench-data.ts';
import { type BenchRow, fmt, row } from './bench-report.ts';
import {
  DEFAULT_TREE_FILES,
  type GeneratedTree,
  MIN_TREE_FILES,
  makeTree,
  PROGRESS_MS,
  randomBytes,
  scenarioDeadline,
} from './capture-scenarios.ts';
import { HindsightPair, type PeakRss } from './hindsight-pair.ts';
import { countFiles, type ScenarioContext } from './scenario-context.ts';

const VOLUME = 'burst';
/** BURST_DIR holds the new files of burst (a), in directories that did not exist before. */
const BURST_DIR = 'burst';
/** POLL_MS is the status poll while waiting: fine enough for bursts that take seconds. */
const POLL_MS = 100;
/**
 * POLL_COST_FACTOR stretches the poll so that answering it takes at most a tenth of the agents'
 * time: a mirror's status counts the changes waiting in its funnel, which with 500,000 of them
 * waiting takes most of a second of the thread that also applies them.
 */
const POLL_COST_FACTOR = 10;
/** SLICE_MS bounds a stretch of synchronous work: the agents' output pipes must be drained. */
const SLICE_MS = 50;
/** SAMPLES files of each phase are compared byte for byte with the source, outside the timing. */
const SAMPLES = 100;
const EVENTS_TIMEOUT_MS = 120_000;

/** Phase is one step of a trial: how long until the mirror held it, and what it cost. */
interface Phase {
  files: number;
  seconds: number;
  /** How long the writer alone took (0 for the initial copy). */
  writeSeconds: number;
  /** Peak RSS of both agents at the end of the phase (VmHWM: the most since the agent started). */
  rss: PeakRss;
  /** Events the primary raised during the phase, by type. */
  events: Record<string, number>;
}

/** Trial is one tree size: its initial copy and its two bursts. */
interface Trial {
  files: number;
  copy: Phase;
  fresh: Phase;
  appended: Phase;
}

/** Expected is a list of files, relative to the volume, with the size each must reach on the mirror. */
interface Expected {
  rels: string[];
  sizes: number[];
}

/**
 * benchBurst measures capture at scale with the real agents: a tree of 1,000,000 small files (×
 * BENCH_SCALE, or each size of $BENCH_BURST_SIZES in turn) is mirrored, then a burst of a tenth as
 * many new files in new directories, then a burst of a tenth as many appends to existing files,
 * each written as fast as this process can; each is timed from its first write until the mirror
 * holds it. A burst beyond the kernel's inotify queue (16,384 events) may overflow it; it must
 * converge all the same, and the primary's capture.overflow events are counted.
 */
export async function benchBurst(ctx: ScenarioContext): Promise<BenchRow[]> {
  const deadline = scenarioDeadline(ctx);
  const sizes =
    ctx.config.burstSizes.length > 0
      ? [...ctx.config.burstSizes].sort((a, b) => a - b)
      : [scaled(ctx.config, DEFAULT_TREE_FILES, MIN_TREE_FILES)];
  const trials: Trial[] = [];
  for (const files of sizes) trials.push(await trial(ctx, files, deadline));
  const rows = trials.flatMap(trialRows);
  if (trials.length > 1) rows.push(...growthRows(trials[0], trials[trials.length - 1]));
  return rows;
}

async function trial(ctx: ScenarioContext, files: number, deadline: number): Promise<Trial> {
  const label = `burst ${fmt(files)}`;
  const base = path.join(ctx.runDir, `tree-${files}`);
  const seed = ctx.config.seed + 20;
  const tree = await makeTree(ctx, label, path.join(base, 'source'), files, seed);
  const pair = await HindsightPair.start(path.join(base, 'pair'));
  let isClosed = false;
  const close = async () => {
    if (isClosed) return;
    isClosed = true;
    await pair.close();
  };
  ctx.defer(close);
  const view = pair.mirrorDir(VOLUME);
  const events = new EventReader(pair);

  ctx.log(`${label}: initial copy`);
  let started = performance.now();
  await pair.addVolume(VOLUME, tree.dir);
  const lastFile = path.join(view, volumeFile(files - 1));
  let at = await converge(ctx, pair, `${label}: initial copy`, {
    minSeq: 1,
    started,
    deadline,
    // The scan walks in order, so the last file arrives last; only then is the view counted.
    check: async () => existsSync(lastFile) && (await countFiles(view)) >= files,
  });
  const copy = await phaseOf(ctx, pair, events, `${label}: initial copy`, files, started, started, at);
  await compareSamples(tree.dir, view, sample(allFiles(tree), seed + 1));

  const burst = Math.max(1, Math.round(files / 10));
  ctx.log(`${label}: burst of ${fmt(burst)} new files in new directories`);
  let seqBefore = await pair.lastSeq(VOLUME);
  started = performance.now();
  const fresh = await writeNewFiles(ctx, label, tree.dir, burst, seed + 2);
  let written = performance.now();
  at = await converge(ctx, pair, `${label}: new files`, {
    minSeq: seqBefore + 1,
    started,
    deadline,
    check: arrivals(view, fresh),
  });
  const freshPhase = await phaseOf(ctx, pair, events, `${label}: new files`, burst, started, written, at);
  const arrived = await countFiles(path.join(view, BURST_DIR));
  if (arrived !== burst) throw new Error(`${label}: the mirror holds ${arrived} new files, not ${burst}`);
  await compareSamples(tree.dir, view, sample(fresh, seed + 3));

  ctx.log(`${label}: burst of ${fmt(burst)} appends to existing files`);
  seqBefore = await pair.lastSeq(VOLUME);
  started = performance.now();
  const appended = await appendToFiles(ctx, label, tree, burst, seed + 4);
  written = performance.now();
  at = await converge(ctx, pair, `${label}: appends`, {
    minSeq: seqBefore + 1,
    started,
    deadline,
    check: arrivals(view, appended),
  });
  const appendPhase = await phaseOf(ctx, pair, events, `${label}: appends`, burst, started, written, at);
  await compareSamples(tree.dir, view, sample(appended, seed + 5));

  // Mirror equals primary: every file of both bursts was checked at its size above; now the counts.
  const [inSource, inView] = await Promise.all([countFiles(tree.dir), countFiles(view)]);
  if (inSource !== inView)
    throw new Error(`${label}: the source holds ${inSource} files, the mirror ${inView}`);
  await close();
  // Where each agent's high-water mark came from (the agent logs each new RSS peak, src/sys/heap-trim.ts).
  for (const [who, node] of [
    ['primary', pair.primary],
    ['mirror', pair.mirror],
  ] as const) {
    const peaks = readFileSync(node.logPath, 'utf8')
      .split('\n')
      .filter((line) => line.includes('memory peak'));
    ctx.log(`${label}: ${who}'s last memory peak: ${peaks.at(-1) ?? '(none logged)'}`);
  }
  const removing = performance.now();
  rmSync(base, { recursive: true, force: true });
  ctx.log(
    `${label}: done; removed the trial's files in ${((performance.now() - removing) / 1000).toFixed(1)} s`,
  );
  return { files, copy, fresh: freshPhase, appended: appendPhase };
}

/**
 * converge polls both agents until the mirror applied at least `minSeq` and `check` agrees, and
 * returns performance.now() of the status read that showed it. The poll is stretched while a
 * status is slow to answer (POLL_COST_FACTOR), so the measurement does not slow what it measures.
 */
async function converge(
  ctx: ScenarioContext,
  pair: HindsightPair,
  what: string,
  options: { minSeq: number; started: number; deadline: number; check: () => Promise<boolean> },
): Promise<number> {
  let lastLog = performance.now();
  let last = '(no status yet)';
  let cost = 0;
  for (;;) {
    const at = performance.now();
    try {
      const s = await pair.statuses();
      cost = performance.now() - at;
      if (isCaughtUp(s.primary, s.mirror, VOLUME, options.minSeq) && (await options.check())) return at;
      last = `${progress(s, pair)}; status ${cost.toFixed(0)} ms`;
    } catch (err) {
      cost = performance.now() - at;
      last = `status failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (at - lastLog >= PROGRESS_MS) {
      ctx.log(`${what}: ${((at - options.started) / 1000).toFixed(0)} s; ${last}`);
      lastLog = at;
    }
    if (at > options.deadline) throw new Error(`${what}: the mirror did not converge in time; ${last}`);
    await sleep(Math.max(POLL_MS, cost * POLL_COST_FACTOR));
  }
}

function progress(s: { primary: StatusJson; mirror: StatusJson }, pair: HindsightPair): string {
  const p = findVolume(s.primary, VOLUME, 'primary');
  const m = findVolume(s.mirror, VOLUME, 'mirror');
  const c = p?.capture;
  const capture = c
    ? `${c.state}${c.why ? ` (${c.why})` : ''}, ${c.overflows} overflows, ${c.pendingPaths} pending`
    : '-';
  const rss = pair.peakRss();
  return (
    `primary lastSeq ${p?.lastSeq ?? '-'}, capture ${capture}; mirror applied ${m?.appliedSeq ?? '-'}; ` +
    `peak RSS primary ${mib(rss.primary)} MiB, mirror ${mib(rss.mirror)} MiB`
  );
}

async function phaseOf(
  ctx: ScenarioContext,
  pair: HindsightPair,
  events: EventReader,
  what: string,
  files: number,
  started: number,
  written: number,
  at: number,
): Promise<Phase> {
  const phase: Phase = {
    files,
    seconds: (at - started) / 1000,
    writeSeconds: (written - started) / 1000,
    rss: pair.peakRss(),
    events: await events.next(),
  };
  const writer = phase.writeSeconds > 0 ? `, writer alone ${phase.writeSeconds.toFixed(2)} s` : '';
  ctx.log(
    `${what}: converged in ${phase.seconds.toFixed(1)} s (${fmt(files / phase.seconds)} files/s${writer}); ` +
      `peak RSS primary ${mib(phase.rss.primary)} MiB, mirror ${mib(phase.rss.mirror)} MiB`,
  );
  ctx.log(`${what}: primary events ${JSON.stringify(phase.events)}`);
  for (const scan of events.scans.splice(0)) ctx.log(`${what}: ${scan}`);
  return phase;
}

/** writeNewFiles writes `count` files of 16–64 bytes below BURST_DIR, 100 to a new directory. */
async function writeNewFiles(
  ctx: ScenarioContext,
  label: string,
  root: string,
  count: number,
  seed: number,
): Promise<Expected> {
  const rng = createRng(seed);
  const bytes = randomBytes(seed + 1);
  const out: Expected = { rels: [], sizes: [] };
  await slices(ctx, `${label}: writing new files`, count, (i) => {
    const rel = path.join(BURST_DIR, volumeFile(i));
    if (i % 100 === 0) mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    const data = bytes(rng.int(16, 64), rng);
    writeFileSync(path.join(root, rel), data);
    out.rels.push(rel);
    out.sizes.push(data.length);
  });
  return out;
}

/** appendToFiles appends 16–64 bytes to one file in every ten of the tree (`count` files). */
async function appendToFiles(
  ctx: ScenarioContext,
  label: string,
  tree: GeneratedTree,
  count: number,
  seed: number,
): Promise<Expected> {
  const rng = createRng(seed);
  const bytes = randomBytes(seed + 1);
  const out: Expected = { rels: [], sizes: [] };
  await slices(ctx, `${label}: appending`, count, (k) => {
    const i = Math.min(tree.files - 1, k * 10 + rng.int(0, 9));
    const rel = volumeFile(i);
    const data = bytes(rng.int(16, 64), rng);
    appendFileSync(path.join(tree.dir, rel), data);
    out.rels.push(rel);
    out.sizes.push(tree.sizes[i] + data.length);
  });
  return out;
}

/** slices calls `step` for 0…count-1, yielding to the event loop every SLICE_MS and printing progress. */
async function slices(ctx: ScenarioContext, what: string, count: number, step: (i: number) => void) {
  let sliceStart = performance.now();
  let lastLog = sliceStart;
  for (let i = 0; i < count; i++) {
    step(i);
    const now = performance.now();
    if (now - sliceStart > SLICE_MS) {
      await yieldLoop();
      sliceStart = performance.now();
    }
    if (now - lastLog > PROGRESS_MS) {
      ctx.log(`${what}: ${fmt(i + 1)} of ${fmt(count)}`);
      lastLog = now;
    }
  }
}

/**
 * arrivals returns a check that every expected file is in `view` at its final size. It remembers
 * how far it got and stops at the first file not there yet, so a poll costs what arrived since.
 */
function arrivals(view: string, expected: Expected): () => Promise<boolean> {
  let next = 0;
  return async () => {
    let sliceStart = performance.now();
    for (; next < expected.rels.length; next++) {
      const st = statSync(path.join(view, expected.rels[next]), { throwIfNoEntry: false });
      if (st?.size !== expected.sizes[next]) return false;
      if (performance.now() - sliceStart > SLICE_MS) {
        await yieldLoop();
        sliceStart = performance.now();
      }
    }
    return true;
  };
}

function allFiles(tree: GeneratedTree): Expected {
  const rels: string[] = [];
  const sizes: number[] = [];
  for (let i = 0; i < tree.files; i += Math.max(1, Math.floor(tree.files / (SAMPLES * 10)))) {
    rels.push(volumeFile(i));
    sizes.push(tree.sizes[i]);
  }
  return { rels, sizes };
}

function sample(expected: Expected, seed: number): string[] {
  const rng = createRng(seed);
  const n = expected.rels.length;
  return Array.from({ length: Math.min(SAMPLES, n) }, () => expected.rels[rng.int(0, n - 1)]);
}

/** compareSamples throws unless each of `rels` has the same bytes in `view` as in `source`. */
async function compareSamples(source: string, view: string, rels: string[]): Promise<void> {
  for (const rel of rels) {
    const a = readFileSync(path.join(source, rel));
    const b = readFileSync(path.join(view, rel));
    if (!a.equals(b)) throw new Error(`${rel} differs on the mirror (${a.length} → ${b.length} bytes)`);
  }
}

/** EventReader reads the primary's event log a phase at a time (`hindsight events --json --since`). */
class EventReader {
  readonly #pair: HindsightPair;
  #since = 0;
  /** What each capture.scan-finished of the phases read so far said, for the log. */
  readonly scans: string[] = [];

  constructor(pair: HindsightPair) {
    this.#pair = pair;
  }

  /** next counts the events since the last call, by type. */
  async next(): Promise<Record<string, number>> {
    const out = await this.#pair.primary.cliOk(['events', '--json', '--since', String(this.#since)], {
      timeoutMs: EVENTS_TIMEOUT_MS,
    });
    const counts: Record<string, number> = {};
    for (const line of out.split('\n')) {
      if (!line.startsWith('{')) continue;
      const e = JSON.parse(line) as { id: number; type: string; data?: Record<string, unknown> };
      this.#since = Math.max(this.#since, e.id);
      counts[e.type] = (counts[e.type] ?? 0) + 1;
      if (e.type === 'capture.scan-finished')
        this.scans.push(`scan (${e.data?.why}) ${JSON.stringify(e.data)}`);
    }
    return counts;
  }
}

function trialRows(t: Trial): BenchRow[] {
  const scenario = `j. capture bursts, ${fmt(t.files)}-file tree`;
  const base = { scenario, competitor: null, competitorName: '-' };
  const timed = (name: string, p: Phase): BenchRow[] => [
    row({
      ...base,
      metric: name,
      unit: 'files/s',
      better: 'higher',
      hindsight: p.files / p.seconds,
      note: p.writeSeconds > 0 ? `writer alone ${fmt(p.files / p.writeSeconds)} files/s` : undefined,
    }),
    row({ ...base, metric: name, unit: 's', better: 'lower', hindsight: p.seconds }),
  ];
  const overflows = (p: Phase) => p.events['capture.overflow'] ?? 0;
  const rss = (who: 'primary' | 'mirror', after: string, p: Phase) =>
    row({
      ...base,
      metric: `peak RSS ${who} after ${after}`,
      unit: 'MiB',
      better: 'lower',
      hindsight: mibOrNull(p.rss[who]),
    });
  return [
    ...timed('initial copy', t.copy),
    ...timed(`burst of ${fmt(t.fresh.files)} new files`, t.fresh),
    ...timed(`burst of ${fmt(t.appended.files)} appends`, t.appended),
    row({
      ...base,
      metric: 'capture.overflow events in the bursts',
      unit: '',
      better: 'lower',
      hindsight: overflows(t.fresh) + overflows(t.appended),
      note: `new files ${overflows(t.fresh)}, appends ${overflows(t.appended)}`,
    }),
    ...(['primary', 'mirror'] as const).flatMap((who) => [
      rss(who, 'copy', t.copy),
      rss(who, 'new files', t.fresh),
      rss(who, 'appends', t.appended),
    ]),
  ];
}

/** growthRows put the peak RSS of the largest tree beside that of the smallest: the ratio is the growth. */
function growthRows(small: Trial, large: Trial): BenchRow[] {
  return (['primary', 'mirror'] as const).map((who) =>
    row({
      scenario: `j. capture bursts, RSS growth`,
      metric: `peak RSS ${who} at ${fmt(large.files)} files`,
      unit: 'MiB',
      better: 'lower',
      hindsight: mibOrNull(large.appended.rss[who]),
      competitor: mibOrNull(small.appended.rss[who]),
      competitorName: `at ${fmt(small.files)} files`,
      note: 'goal: ratio ≤ 1.20',
    }),
  );
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(0);
}

function mibOrNull(bytes: number): number | null {
  return bytes > 0 ? bytes / 1024 / 1024 : null;
}
