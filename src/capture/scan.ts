import { type BigIntStats, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Clock, EventSink } from '../core/index.ts';
import { isStagingName, runLimited } from '../sys/index.ts';
import type { ChangeBatch } from './change-batch.ts';
import type { FileRows } from './file-rows.ts';
import type { GlobFilter } from './globs.ts';
import { entryKind, lstatOrNullSync, type Reconciler } from './reconcile.ts';

/** ScanReport is what one scan saw and did. */
export interface ScanReport {
  /** Directory entries looked at (captured or not). */
  entries: number;
  /** Paths for which a change was recorded. */
  changed: number;
  /** Files that changed while being read; the caller retries them. */
  unstable: string[];
  /** Paths that could not be read or stored (Outcome `failed`); the caller scans again soon. */
  failed: number;
  /** Directories that appeared (`new`) or vanished (`gone`), moves included: the watch may be stale. */
  dirs: { new: number; gone: number };
}

/** MAX_UNSTABLE_REPORTED bounds the retry list; beyond it the next scan catches the rest. */
const MAX_UNSTABLE_REPORTED = 10_000;
/** SCAN_SLICE_MS is how long a scan compares entries before it lets the event loop run. */
const SCAN_SLICE_MS = 20;
/** DEFAULT_SCAN_PARALLEL is how many changed entries of one directory a scan reads at once. */
export const DEFAULT_SCAN_PARALLEL = 8;

/**
 * Scanner walks a volume's directory tree and reconciles every entry with the `files` table:
 * unchanged entries (same size, mtime, ctime, inode, mode) are skipped, new and changed ones
 * become changes, and recorded paths that are gone (or are now excluded) become deletes.
 *
 * Memory is bounded by the largest directory, not by the volume: each directory is listed,
 * compared with the recorded rows of its direct children only, and left before its
 * subdirectories are walked.
 */
export class Scanner {
  readonly #root: string;
  readonly #rows: FileRows;
  readonly #filter: GlobFilter;
  readonly #reconciler: Reconciler;
  readonly #batch: ChangeBatch;
  readonly #events: EventSink;
  readonly #clock: Clock;
  readonly #volume: string;
  readonly #watchDir: ((dir: string) => void) | undefined;
  #sliceStart = performance.now();

  constructor(deps: {
    root: string;
    rows: FileRows;
    filter: GlobFilter;
    reconciler: Reconciler;
    batch: ChangeBatch;
    events: EventSink;
    clock: Clock;
    volume: string;
    /** Called with each directory just before it is listed, so that the watch covers what the listing misses. */
    watchDir?: (dir: string) => void;
  }) {
    this.#root = deps.root;
    this.#rows = deps.rows;
    this.#filter = deps.filter;
    this.#reconciler = deps.reconciler;
    this.#batch = deps.batch;
    this.#events = deps.events;
    this.#clock = deps.clock;
    this.#volume = deps.volume;
    this.#watchDir = deps.watchDir;
  }

  /** scan walks the whole volume and appends what changed; `why` goes into the events. */
  async scan(why: string, signal?: AbortSignal): Promise<ScanReport> {
    const started = this.#clock.monotonic();
    this.#events.emit({
      level: 'info',
      type: 'capture.scan-started',
      volume: this.#volume,
      msg: 'scan started',
      data: { why },
    });
    const report = await this.scanSubtree('', signal);
    this.#events.emit({
      level: 'info',
      type: 'capture.scan-finished',
      volume: this.#volume,
      msg: 'scan finished',
      data: {
        why,
        entries: report.entries,
        changed: report.changed,
        unstable: report.unstable.length,
        dirsNew: report.dirs.new,
        dirsGone: report.dirs.gone,
        ms: Math.round(this.#clock.monotonic() - started),
      },
    });
    return report;
  }

  /** scanSubtree walks directory `dir` ('' is the root) and everything beneath it. */
  async scanSubtree(dir: string, signal?: AbortSignal): Promise<ScanReport> {
    const report: ScanReport = { entries: 0, changed: 0, unstable: [], failed: 0, dirs: { new: 0, gone: 0 } };
    // Rows of this subtree may sit in the batch; the walk compares against the catalog.
    await this.#batch.flush();
    await this.#walk(dir, report, signal);
    await this.#batch.flush();
    return report;
  }

  async #walk(dir: string, report: ScanReport, signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    this.#watchDir?.(dir);
    const names = await this.#list(dir);
    if (names === null) return;
    const rows = this.#rows.children(dir);
    const prefix = dir === '' ? '' : `${dir}/`;
    // Deletes first: a name that vanished frees its place before anything new is recorded.
    for (const [name, row] of rows) {
      if (!names.has(name)) {
        await this.#reconciler.deleteSubtree(prefix + name, row.kind);
        report.changed++;
        if (row.kind === 'dir') report.dirs.gone++;
      }
    }
    const subdirs: string[] = [];
    // First what is unchanged, without I/O beyond one lstat each: called directly rather than
    // through the thread pool (three times faster, as rsync does), in slices that give the
    // event loop its turn. Only what differs is reconciled, a few entries at a time: reading
    // many small files waits mostly on the open/read round trips of each.
    const differing: { name: string; st: BigIntStats | null; isDir: boolean }[] = [];
    for (const name of names) {
      const path = prefix + name;
      report.entries++;
      const st = lstatOrNullSync(join(this.#root, path));
      const isDir = st !== null && entryKind(st) === 'dir';
      const isCaptured = st !== null && this.#filter.isCaptured(path, isDir);
      if (isCaptured && this.#reconciler.isUnchanged(st, rows.get(name))) {
        if (isDir) subdirs.push(path);
      } else differing.push({ name, st: isCaptured ? st : null, isDir });
      if (performance.now() - this.#sliceStart > SCAN_SLICE_MS) await this.#yield();
    }
    await runLimited(differing, DEFAULT_SCAN_PARALLEL, async ({ name, st, isDir }) => {
      const path = prefix + name;
      const isCaptured = st !== null;
      const outcome = await this.#reconciler.reconcile(path, st, rows.get(name));
      if (outcome === 'changed' || outcome === 'new-dir') report.changed++;
      if (outcome === 'new-dir') report.dirs.new++;
      if (outcome === 'gone' && rows.has(name)) report.changed++;
      if (outcome === 'gone' && rows.get(name)?.kind === 'dir') report.dirs.gone++;
      if (outcome === 'unstable' && report.unstable.length < MAX_UNSTABLE_REPORTED)
        report.unstable.push(path);
      if (outcome === 'failed') report.failed++;
      if (isCaptured && isDir) subdirs.push(path);
    });
    for (const sub of subdirs.sort()) await this.#walk(sub, report, signal);
  }

  /** #yield lets the event loop run (the link, the API) between slices of a long scan. */
  async #yield(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    this.#sliceStart = performance.now();
  }

  /** #list returns the entry names of `dir` without our staging files, or null if it vanished. */
  async #list(dir: string): Promise<Set<string> | null> {
    let entries: string[];
    try {
      entries = await fsp.readdir(join(this.#root, dir));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Gone or replaced since its parent was listed: the next look at the parent settles it.
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      if (code !== 'EACCES' && code !== 'EPERM') throw err;
      // Unreadable: compare nothing, so nothing recorded beneath it is taken for deleted.
      this.#events.emit({
        level: 'error',
        type: 'capture.read-error',
        volume: this.#volume,
        msg: 'could not list a directory; it is retried at the next scan',
        data: { path: dir, code },
      });
      return null;
    }
    return new Set(entries.filter((name) => !isStagingName(name)));
  }
}
