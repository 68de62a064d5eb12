import type { Clock, EventSink } from '../core/index.ts';
import { errorMessage } from '../core/index.ts';
import { inotifyUnavailable, type Logger } from '../sys/index.ts';
import type { GlobFilter } from './globs.ts';
import { TreeWatch } from './tree-watch.ts';

/**
 * DEFAULT_WATCH_RETRY_MS is the longest wait before watching again after the watch failed (say,
 * at the inotify watch limit); the first retry comes after 1 s, then the wait doubles.
 */
export const DEFAULT_WATCH_RETRY_MS = 60_000;
const WATCH_RETRY_FIRST_MS = 1000;
/** NO_INOTIFY marks a volume that can never be watched here (no addon): capture polls for good. */
const NO_INOTIFY = 'no inotify addon (npm run build:native)';
const RAISE_QUEUE_HINT =
  'raise fs.inotify.max_queued_events (packaging/sysctl/90-hindsight.conf) if this happens often';
const RAISE_WATCHES_HINT =
  'raise fs.inotify.max_user_watches (packaging/sysctl/90-hindsight.conf) above the number of directories';

/** WatchKeeperDeps: where the keeper reports, and what capture does with what it hears. */
export interface WatchKeeperDeps {
  root: string;
  filter: GlobFilter;
  events: EventSink;
  clock: Clock;
  log: Logger;
  volume: string;
  /** What the watch heard: see TreeWatchHandlers.onPaths. */
  onPaths(paths: string[], complete: ReadonlySet<string>): void;
  /** Events were lost (`overflow`), or the watch is back after a gap (`watch restored`): scan the volume. */
  onLost(why: 'overflow' | 'watch restored'): void;
}

/**
 * WatchKeeper keeps one volume's TreeWatch: opens it, reports and counts what goes wrong with it
 * (a kernel queue overflow, the watch limit, no inotify at all) and opens it again with backoff.
 * A partial watch would hear some changes and miss others, so a watch that cannot cover a
 * directory is dropped whole; until it is back, capture polls (`noWatchWhy` says why).
 */
export class WatchKeeper {
  readonly #d: WatchKeeperDeps;
  #watch: TreeWatch | undefined;
  #noWatchWhy: string | undefined;
  #retryAt = 0;
  #retryMs = 0;
  #overflows = 0;

  constructor(deps: WatchKeeperDeps) {
    this.#d = deps;
  }

  /** isOpen is true while the whole volume is watched (or being watched by the scan that follows opening). */
  get isOpen(): boolean {
    return this.#watch !== undefined;
  }

  /** noWatchWhy says why there is no watch, while there is none. */
  get noWatchWhy(): string | undefined {
    return this.#watch ? undefined : this.#noWatchWhy;
  }

  get overflows(): number {
    return this.#overflows;
  }

  get watchedDirs(): number {
    return this.#watch?.size ?? 0;
  }

  /** retryAt is the monotonic time from which `open` may be tried again; Infinity when never. */
  get retryAt(): number {
    if (this.#watch) return Number.POSITIVE_INFINITY;
    return this.#noWatchWhy === NO_INOTIFY ? Number.POSITIVE_INFINITY : this.#retryAt;
  }

  watchDir(dir: string): void {
    this.#watch?.watchDir(dir);
  }

  isWatched(dir: string): boolean {
    return this.#watch?.isWatched(dir) ?? false;
  }

  beginSweep(): void {
    this.#watch?.beginSweep();
  }

  endSweep(): void {
    this.#watch?.endSweep();
  }

  /**
   * open watches the root; the full scan that follows every opening watches the rest. Without
   * the inotify addon it says so once, and capture polls for good.
   */
  open(): void {
    const unavailable = inotifyUnavailable();
    if (unavailable !== undefined) {
      this.#noWatchWhy = NO_INOTIFY;
      this.#d.log.warn('no inotify: capture scans on a timer', {
        volume: this.#d.volume,
        reason: unavailable,
      });
      this.#d.events.emit({
        level: 'warn',
        type: 'capture.polling',
        volume: this.#d.volume,
        msg: 'capture cannot watch this volume and scans it every few seconds instead',
        data: { reason: unavailable },
      });
      return;
    }
    try {
      this.#watch = TreeWatch.open(this.#d.root, this.#d.filter, {
        onPaths: (paths, complete) => this.#d.onPaths(paths, complete),
        onOverflow: () => this.#onOverflow(),
        onWatchFailed: (dir, err) => this.#onWatchFailed(dir, err),
      });
      // Events between the failure and now were never heard (at start, the first scan is asked for already).
      if (this.#noWatchWhy !== undefined) this.#d.onLost('watch restored');
      this.#noWatchWhy = undefined;
      this.#retryAt = 0;
    } catch (err) {
      this.#onWatchFailed('', err as NodeJS.ErrnoException);
    }
  }

  /** close drops the watch; `why` is what status says until it is open again. */
  close(why: string | undefined): void {
    this.#watch?.close();
    this.#watch = undefined;
    if (this.#noWatchWhy !== NO_INOTIFY) this.#noWatchWhy = why;
  }

  /** #onOverflow: the kernel dropped events; say so, and have the volume scanned at once. */
  #onOverflow(): void {
    this.#overflows++;
    this.#d.log.warn('inotify queue overflow: events were lost; rescanning', { volume: this.#d.volume });
    this.#d.events.emit({
      level: 'warn',
      type: 'capture.overflow',
      volume: this.#d.volume,
      msg: 'the kernel dropped file events (its inotify queue was full); the volume is rescanned now',
      data: { overflows: this.#overflows, hint: RAISE_QUEUE_HINT },
    });
    this.#d.onLost('overflow');
  }

  /** #onWatchFailed: a directory could not be watched (the watch limit, most often). */
  #onWatchFailed(dir: string, err: NodeJS.ErrnoException): void {
    const isLimit = err.code === 'ENOSPC' || err.code === 'EMFILE';
    const why = isLimit
      ? 'inotify limit reached'
      : `cannot watch ${dir === '' ? 'the root' : dir}: ${err.code}`;
    this.#d.log.warn('watch failed; capture polls', { volume: this.#d.volume, dir, err });
    this.#d.events.emit({
      level: 'warn',
      type: 'capture.watch-error',
      volume: this.#d.volume,
      msg: `${why}: capture scans the volume every few seconds until it can watch it again`,
      data: { error: errorMessage(err), dir, ...(isLimit ? { hint: RAISE_WATCHES_HINT } : {}) },
    });
    this.close(why);
    this.#retryMs = Math.min(Math.max(WATCH_RETRY_FIRST_MS, this.#retryMs * 2), DEFAULT_WATCH_RETRY_MS);
    this.#retryAt = this.#d.clock.monotonic() + this.#retryMs;
  }
}
