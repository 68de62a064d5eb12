import { basename, join, relative, sep } from 'node:path';
import watcher from '@parcel/watcher';
import { isStagingName } from '../sys/index.ts';
import type { GlobFilter } from './globs.ts';
import { entryKind, lstatOrNull, type Reconciler } from './reconcile.ts';
import type { Scanner } from './scan.ts';

/** DEFAULT_SETTLE_MS is how long a path must see no event before it is read. */
export const DEFAULT_SETTLE_MS = 200;
/** DEFAULT_MAX_SETTLE_MS is how long a path that never stops changing waits before it is read anyway. */
export const DEFAULT_MAX_SETTLE_MS = 5000;
/** DEFAULT_MAX_DIRTY bounds the set of waiting paths; past it, a full rescan replaces the set. */
export const DEFAULT_MAX_DIRTY = 100_000;

/**
 * DirtyPaths coalesces watcher events into a set of volume-relative paths, each with the time of
 * its first and last event, and hands out the ones that have settled. Its size is bounded:
 * when it would grow past `maxSize` it empties itself and reports an overflow, and the caller
 * rescans instead (one walk is cheaper than a million queued paths, and loses nothing).
 */
export class DirtyPaths {
  readonly #settleMs: number;
  readonly #maxSettleMs: number;
  readonly #maxSize: number;
  #paths = new Map<string, { first: number; last: number }>();

  constructor(options: { settleMs?: number; maxSettleMs?: number; maxSize?: number } = {}) {
    this.#settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
    this.#maxSettleMs = options.maxSettleMs ?? DEFAULT_MAX_SETTLE_MS;
    this.#maxSize = options.maxSize ?? DEFAULT_MAX_DIRTY;
  }

  /** size is the number of waiting paths. */
  get size(): number {
    return this.#paths.size;
  }

  /** mark records an event for `path` at monotonic time `now`; returns false on overflow. */
  mark(path: string, now: number): boolean {
    const seen = this.#paths.get(path);
    if (seen) {
      seen.last = now;
      return true;
    }
    if (this.#paths.size >= this.#maxSize) {
      this.clear();
      return false;
    }
    this.#paths.set(path, { first: now, last: now });
    return true;
  }

  /** clear forgets every waiting path (a full rescan covers them). */
  clear(): void {
    this.#paths = new Map();
  }

  /** nextDueIn returns the milliseconds until the earliest path settles, or undefined if none waits. */
  nextDueIn(now: number): number | undefined {
    let min: number | undefined;
    for (const t of this.#paths.values()) {
      const due = Math.min(t.last + this.#settleMs, t.first + this.#maxSettleMs);
      min = min === undefined ? due : Math.min(min, due);
    }
    return min === undefined ? undefined : Math.max(0, min - now);
  }

  /**
   * takeDue removes and returns the settled paths, sorted so that a parent comes before
   * what is beneath it (creates need their directory first; a gone parent deletes its subtree).
   */
  takeDue(now: number): string[] {
    const due: string[] = [];
    for (const [path, t] of this.#paths) {
      if (t.last + this.#settleMs <= now || t.first + this.#maxSettleMs <= now) due.push(path);
    }
    for (const path of due) this.#paths.delete(path);
    return due.sort();
  }
}

/**
 * WATCH_BACKEND is named, never left to @parcel/watcher to choose: choosing probes for watchman
 * at every subscription with popen(), and where watchman is not installed that probe leaks a
 * pipe descriptor and a zombie shell each time (capture subscribes afresh after every directory
 * move). It also keeps the watch what the docs say it is: inotify, not whatever is installed.
 */
const WATCH_BACKEND = process.platform === 'linux' ? 'inotify' : undefined;

/** WatchHandle stops a tree watch. */
export interface WatchHandle {
  close(): Promise<void>;
}

/**
 * watchTree subscribes to native recursive change notification (inotify on Linux) below
 * `root` and reports volume-relative paths; '' stands for the root itself. Our staging files
 * and paths below excluded directories are dropped here; the full include/exclude rules are
 * applied when a path is processed, because only then is it known whether it is a directory.
 * A watcher failure (including a lost event queue) is passed to `onError`: the caller must
 * assume it missed events and rescan.
 */
export async function watchTree(
  root: string,
  filter: GlobFilter,
  onPaths: (paths: string[]) => void,
  onError: (err: Error) => void,
): Promise<WatchHandle> {
  const subscription = await watcher.subscribe(
    root,
    (err, events) => {
      if (err) {
        onError(err);
        return;
      }
      const paths: string[] = [];
      for (const event of events) {
        const rel = relative(root, event.path);
        if (rel.startsWith('..')) continue;
        const path = sep === '/' ? rel : rel.split(sep).join('/');
        if (path !== '' && (isStagingName(basename(path)) || filter.hasExcludedAncestor(path))) continue;
        paths.push(path);
      }
      if (paths.length > 0) onPaths(paths);
    },
    { backend: WATCH_BACKEND },
  );
  return { close: () => subscription.unsubscribe() };
}

/** WatchedPathResult says what capturing one watched path left to do. */
export interface WatchedPathResult {
  /** Paths to read again later (files that changed while being read). */
  retry: string[];
  /**
   * True when a directory appeared or vanished, or the reported path does not exist and was
   * never recorded. inotify keeps watching a moved directory under its old name, so after a
   * directory move the watcher may report later events under paths that no longer exist: only
   * a rescan finds those changes (found by the seeded kill -9 storm, seed 1085915997).
   */
  isStructural: boolean;
  /** True when a path could not be read or stored (Outcome `failed`): a rescan must follow soon. */
  isFailed: boolean;
}

/**
 * captureWatchedPath reconciles one settled path reported by the watcher. A path whose parent
 * capture has not recorded yet is handled through its highest unrecorded ancestor, and a
 * directory that is new (say, a tree moved into the volume) is scanned whole, because its
 * content may have arrived without events of its own.
 */
export async function captureWatchedPath(
  path: string,
  deps: { root: string; filter: GlobFilter; reconciler: Reconciler; scanner: Scanner; signal?: AbortSignal },
): Promise<WatchedPathResult> {
  const target = highestUnrecordedAncestor(path, deps.reconciler) ?? path;
  const st = await lstatOrNull(join(deps.root, target));
  const isDir = st !== null && entryKind(st) === 'dir';
  const isCaptured = st !== null && deps.filter.isCapturedPath(target, isDir);
  const row = deps.reconciler.rowOf(target);
  const outcome = await deps.reconciler.reconcile(target, isCaptured ? st : null, row);
  const isStructural = outcome === 'new-dir' || (st === null && (row === undefined || row.kind === 'dir'));
  if (outcome === 'unstable') return { retry: [target], isStructural, isFailed: false };
  if (outcome === 'new-dir') {
    const report = await deps.scanner.scanSubtree(target, deps.signal);
    return { retry: report.unstable, isStructural, isFailed: report.failed > 0 };
  }
  return { retry: [], isStructural, isFailed: outcome === 'failed' };
}

function highestUnrecordedAncestor(path: string, reconciler: Reconciler): string | undefined {
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const ancestor = path.slice(0, i);
    if (reconciler.rowOf(ancestor)?.kind !== 'dir') return ancestor;
  }
  return undefined;
}
