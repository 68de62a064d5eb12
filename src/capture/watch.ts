import { join } from 'node:path';
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
 * COMPLETE_SETTLE_MS is how long a file whose last event said it is complete (closed after
 * writing, or renamed into place) waits before it is read: only long enough for the events
 * that follow a close (say, a chmod) to arrive with it.
 */
export const COMPLETE_SETTLE_MS = 20;
/**
 * COMPLETE_COOLDOWN_MS: a path read early because it was complete is not read early again for
 * this long. A writer that opens, appends and closes a file many times a second (a shell's `>>`
 * in a loop) then waits the normal settle time, instead of having the whole file read each time.
 */
export const COMPLETE_COOLDOWN_MS = 1000;
/**
 * COMPLETE_MAX_WAITING: complete files are read early only while at most this many paths wait.
 * Early reads are for a quiet volume, where one saved file should reach the mirror at once; in
 * a burst they would cut it into many small batches, each paying a commit round on both nodes
 * (measured: sustained small files fell from 1,738 to ~650 files/s), so a burst waits the settle
 * time and is shipped in large batches.
 */
export const COMPLETE_MAX_WAITING = 64;

/** Waiting is one waiting path: its first and last event, and whether the last said it is complete. */
interface Waiting {
  first: number;
  last: number;
  isComplete: boolean;
}

/**
 * DirtyPaths coalesces watcher events into a set of volume-relative paths, each with the time of
 * its first and last event, and hands out the ones that have settled. A path settles when it has
 * seen no event for the settle time, or, if its last event said the file is complete (closed
 * after writing, renamed into place) and few paths wait, after COMPLETE_SETTLE_MS; reading it is safe either way,
 * because capture checks that a file did not change while it was read. Its size is bounded:
 * when it would grow past `maxSize` it empties itself and reports an overflow, and the caller
 * rescans instead (one walk is cheaper than a million queued paths, and loses nothing).
 */
export class DirtyPaths {
  readonly #settleMs: number;
  readonly #maxSettleMs: number;
  readonly #maxSize: number;
  #paths = new Map<string, Waiting>();
  /** Paths handed out early, with when: in order of that time, pruned past the cooldown. */
  readonly #takenEarly = new Map<string, number>();

  constructor(options: { settleMs?: number; maxSettleMs?: number; maxSize?: number } = {}) {
    this.#settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
    this.#maxSettleMs = options.maxSettleMs ?? DEFAULT_MAX_SETTLE_MS;
    this.#maxSize = options.maxSize ?? DEFAULT_MAX_DIRTY;
  }

  /** size is the number of waiting paths. */
  get size(): number {
    return this.#paths.size;
  }

  /**
   * mark records an event for `path` at monotonic time `now`; `isComplete` says the event was
   * the file being closed after writing or renamed into place. Returns false on overflow.
   */
  mark(path: string, now: number, isComplete = false): boolean {
    const early = this.#takenEarly.get(path);
    const complete = isComplete && (early === undefined || now - early >= COMPLETE_COOLDOWN_MS);
    const seen = this.#paths.get(path);
    if (seen) {
      seen.last = now;
      seen.isComplete = complete;
      return true;
    }
    if (this.#paths.size >= this.#maxSize) {
      this.clear();
      return false;
    }
    this.#paths.set(path, { first: now, last: now, isComplete: complete });
    return true;
  }

  /** clear forgets every waiting path (a full rescan covers them). */
  clear(): void {
    this.#paths = new Map();
  }

  /** nextDueIn returns the milliseconds until the earliest path settles, or undefined if none waits. */
  nextDueIn(now: number): number | undefined {
    let min: number | undefined;
    const isQuiet = this.#isQuiet();
    for (const t of this.#paths.values()) {
      const due = this.#dueAt(t, isQuiet);
      min = min === undefined ? due : Math.min(min, due);
    }
    return min === undefined ? undefined : Math.max(0, min - now);
  }

  #isQuiet(): boolean {
    return this.#paths.size <= COMPLETE_MAX_WAITING;
  }

  #dueAt(t: Waiting, isQuiet: boolean): number {
    const settled = t.last + (t.isComplete && isQuiet ? COMPLETE_SETTLE_MS : this.#settleMs);
    return Math.min(settled, t.first + this.#maxSettleMs);
  }

  /**
   * takeDue removes and returns the settled paths, sorted so that a parent comes before
   * what is beneath it (creates need their directory first; a gone parent deletes its subtree).
   */
  takeDue(now: number): string[] {
    for (const [path, at] of this.#takenEarly) {
      if (now - at < COMPLETE_COOLDOWN_MS) break;
      this.#takenEarly.delete(path);
    }
    const due: string[] = [];
    const isQuiet = this.#isQuiet();
    for (const [path, t] of this.#paths) {
      if (this.#dueAt(t, isQuiet) > now) continue;
      due.push(path);
      if (t.isComplete && t.last + this.#settleMs > now) {
        this.#takenEarly.delete(path); // re-inserted last, so the map stays in order of time
        this.#takenEarly.set(path, now);
      }
    }
    for (const path of due) this.#paths.delete(path);
    return due.sort();
  }
}

/** WatchedPathResult says what capturing one watched path left to do. */
export interface WatchedPathResult {
  /** Paths to read again later (files that changed while being read). */
  retry: string[];
  /** True when a path could not be read or stored (Outcome `failed`): a rescan must follow soon. */
  isFailed: boolean;
}

/**
 * captureWatchedPath reconciles one settled path reported by the watcher. A path whose parent
 * capture has not recorded yet is handled through its highest unrecorded ancestor. A directory
 * that the watch does not cover — new, moved in, moved within the volume, or replaced — is
 * scanned whole: the scan watches each directory before listing it, so what arrived in it
 * before its watch is found, and what arrives after is heard.
 */
export async function captureWatchedPath(
  path: string,
  deps: {
    root: string;
    filter: GlobFilter;
    reconciler: Reconciler;
    scanner: Scanner;
    isWatched: (dir: string) => boolean;
    signal?: AbortSignal;
  },
): Promise<WatchedPathResult> {
  const target = highestUnrecordedAncestor(path, deps.reconciler) ?? path;
  const st = await lstatOrNull(join(deps.root, target));
  const isDir = st !== null && entryKind(st) === 'dir';
  const isCaptured = st !== null && deps.filter.isCapturedPath(target, isDir);
  const row = deps.reconciler.rowOf(target);
  const outcome = await deps.reconciler.reconcile(target, isCaptured ? st : null, row);
  if (outcome === 'unstable') return { retry: [target], isFailed: false };
  if (outcome === 'new-dir' || (isCaptured && isDir && !deps.isWatched(target))) {
    const report = await deps.scanner.scanSubtree(target, deps.signal);
    return { retry: report.unstable, isFailed: outcome === 'failed' || report.failed > 0 };
  }
  return { retry: [], isFailed: outcome === 'failed' };
}

function highestUnrecordedAncestor(path: string, reconciler: Reconciler): string | undefined {
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const ancestor = path.slice(0, i);
    if (reconciler.rowOf(ancestor)?.kind !== 'dir') return ancestor;
  }
  return undefined;
}
