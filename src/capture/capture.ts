import type { Clock, EventSink } from '../core/index.ts';
import { errorMessage, isHindsightError } from '../core/index.ts';
import type { Catalog, ChunkStore } from '../store/index.ts';
import { type Logger, readInotifyLimits } from '../sys/index.ts';
import type { CaptureHealth, CaptureSource } from './capture-source.ts';
import { ChangeBatch } from './change-batch.ts';
import { FileRows } from './file-rows.ts';
import { GlobFilter } from './globs.ts';
import type { Outbox } from './outbox.ts';
import { Reconciler } from './reconcile.ts';
import { DEFAULT_ROOT_CHECK_MS, RootGuard } from './root-guard.ts';
import { Scanner } from './scan.ts';
import { captureWatchedPath, DirtyPaths } from './watch.ts';
import { WatchKeeper } from './watch-keeper.ts';
import { checkWatchLimits } from './watch-limits.ts';

/** DEFAULT_RESCAN_MS is how often a full rescan catches what the watcher missed. */
export const DEFAULT_RESCAN_MS = 60 * 60 * 1000;
/**
 * DEFAULT_POLL_MS is how often a volume without a watch (no inotify addon, or the watch limit
 * reached) is scanned; never more than a third of the time goes to scanning.
 */
export const DEFAULT_POLL_MS = 2000;
/** MAX_BACKOFF_MS caps the wait after repeated failures of the capture loop. */
const MAX_BACKOFF_MS = 60_000;

/** VolumeCaptureDeps is everything one volume's capture needs, handed in by the daemon. */
export interface VolumeCaptureDeps {
  catalog: Catalog;
  store: ChunkStore;
  outbox: Outbox;
  events: EventSink;
  clock: Clock;
  log: Logger;
  volume: string;
  root: string;
  include: string[];
  exclude: string[];
  /** False while changes may not be acknowledged (a primary without its lease, docs/roles.md). */
  mayAcknowledge?: () => boolean;
  /** Overrides of the tunables, for tests and configuration. */
  settleMs?: number;
  rescanMs?: number;
  rootCheckMs?: number;
}

/** FENCED_RETRY_MS is how soon capture tries again while the primary waits for its lease. */
const FENCED_RETRY_MS = 250;

/**
 * VolumeCapture is the capture source of a `files` volume: it turns what happens below one
 * volume root into changes in the outbox: a full
 * scan at start, the native watcher afterwards, a rescan every hour and after any watcher
 * failure, all behind the root guard. One loop does all the work, so a scan and the watcher
 * never record the same path concurrently. Failures are logged, reported as events and
 * retried with backoff; the loop never ends the process.
 */
export class VolumeCapture implements CaptureSource {
  readonly #d: VolumeCaptureDeps;
  readonly #filter: GlobFilter;
  readonly #batch: ChangeBatch;
  readonly #reconciler: Reconciler;
  readonly #scanner: Scanner;
  readonly #guard: RootGuard;
  readonly #rootListeners = new Set<(reason: string) => void>();
  readonly #dirty: DirtyPaths;
  readonly #listeners = new Set<(lastSeq: number) => void>();
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  readonly #watch: WatchKeeper;
  #rescanWhy: string | undefined;
  #nextRescanAt = 0;
  #nextRescanWhy: string | undefined;
  /** The reason of the scan that runs now, if one does. */
  #scanning: string | undefined;
  #lastScanMs = 0;
  #lastScanEndedAt = 0;
  /** The monotonic time of the last kernel queue overflow not yet repaired by a full scan. */
  #unrepairedOverflowAt: number | undefined;
  /** Wall-clock time since which capture cannot vouch that it has every change; undefined while it can. */
  #uncertainSince: number | undefined;
  /** The pause before the next retry of paths that could not be read or stored; 0 when none failed. */
  #failedRetryMs = 0;
  #nextRootCheckAt = 0;
  #scanWaiters: (() => void)[] = [];
  #waker: (() => void) | undefined;
  #isWoken = false;
  #failures = 0;

  constructor(deps: VolumeCaptureDeps) {
    this.#d = deps;
    const { catalog, volume, root, store, events, clock } = deps;
    const rows = new FileRows(catalog, volume);
    this.#filter = new GlobFilter(deps.include, deps.exclude);
    this.#batch = new ChangeBatch({
      outbox: deps.outbox,
      store,
      volume,
      onAppended: (last) => {
        for (const cb of this.#listeners) cb(last);
      },
      mayAppend: deps.mayAcknowledge,
    });
    this.#reconciler = new Reconciler({ root, rows, batch: this.#batch, store, events, clock, volume });
    this.#scanner = new Scanner({
      root,
      rows,
      filter: this.#filter,
      reconciler: this.#reconciler,
      batch: this.#batch,
      events,
      clock,
      volume,
      watchDir: (dir) => this.#watch.watchDir(dir),
    });
    this.#guard = new RootGuard({
      catalog,
      rows,
      events,
      volume,
      root,
      onStop: (reason) => {
        for (const cb of this.#rootListeners) cb(reason);
      },
    });
    this.#dirty = new DirtyPaths({ settleMs: deps.settleMs });
    this.#watch = new WatchKeeper({
      root,
      filter: this.#filter,
      events,
      clock,
      log: deps.log,
      volume,
      onPaths: (paths, complete) => this.#onPaths(paths, complete),
      onLost: (why) => this.#onLost(why),
    });
  }

  /** onRootStop registers `cb` to be called when the root guard stops the volume (root emptied or missing). */
  onRootStop(cb: (reason: string) => void): void {
    this.#rootListeners.add(cb);
  }

  /**
   * onAppended registers `cb` to be called with the last seq after every append to the outbox,
   * so the link sender wakes up; returns the function that unregisters it.
   */
  onAppended(cb: (lastSeq: number) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /**
   * start begins capture and resolves once the first scan has run (or the root guard stopped
   * the volume, or the scan failed and will be retried in the background).
   */
  async start(): Promise<void> {
    if (this.#loop) return;
    this.#abort = new AbortController();
    const first = this.#afterNextScan('start');
    this.#loop = this.#run(this.#abort.signal);
    await first;
  }

  /** stop ends the loop and the watcher; work not yet appended is dropped and found again next start. */
  async stop(): Promise<void> {
    this.#abort?.abort();
    this.#waker?.();
    await this.#loop;
    this.#loop = undefined;
    this.#watch.close(undefined);
    this.#batch.discard();
    for (const w of this.#scanWaiters.splice(0)) w();
  }

  /** rescan runs a full scan now and resolves when it is done (at once if capture is not running). */
  async rescan(): Promise<void> {
    if (!this.#loop) return;
    await this.#afterNextScan('requested');
  }

  #afterNextScan(why: string): Promise<void> {
    const done = new Promise<void>((resolve) => this.#scanWaiters.push(resolve));
    this.#rescanWhy ??= why;
    this.#wake();
    return done;
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.#step(signal);
        this.#failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        this.#batch.discard();
        if (isHindsightError(err, 'E_FENCED')) {
          // No lease (yet): not a failure of capture; the quorum's own events say why.
          for (const w of this.#scanWaiters.splice(0)) w();
          await this.#wait(FENCED_RETRY_MS);
          continue;
        }
        this.#failures++;
        // Whoever waits for a scan learns of the failure through the event, not by hanging.
        for (const w of this.#scanWaiters.splice(0)) w();
        this.#d.log.error('capture loop failed', { volume: this.#d.volume, err, failures: this.#failures });
        this.#d.events.emit({
          level: 'error',
          type: 'capture.watch-error',
          volume: this.#d.volume,
          msg: 'capture failed; it is retried',
          data: { error: errorMessage(err), failures: this.#failures },
        });
        await this.#wait(Math.min(1000 * 2 ** (this.#failures - 1), MAX_BACKOFF_MS));
      }
    }
  }

  /**
   * health says whether capture can vouch that the outbox holds every change made below the
   * root: not while it scans, polls without a watch, repairs a kernel queue overflow, or holds
   * paths it heard of but has not recorded yet.
   */
  health(): CaptureHealth {
    const state = !this.#loop
      ? 'stopped'
      : this.#scanning !== undefined
        ? 'scanning'
        : !this.#watch.isOpen
          ? 'polling'
          : 'watching';
    // Paths that could not be read or stored wait for the retry scan (#retryFailedSoon).
    const isRetrying = this.#failedRetryMs > 0;
    const why =
      state === 'scanning'
        ? this.#scanning
        : state === 'polling'
          ? this.#watch.noWatchWhy
          : isRetrying
            ? 'paths that could not be read or stored wait for a retry'
            : undefined;
    const pendingPaths = this.#dirty.size;
    const isCertain =
      state === 'watching' &&
      pendingPaths === 0 &&
      this.#unrepairedOverflowAt === undefined &&
      this.#rescanWhy === undefined &&
      !isRetrying;
    this.#noteCertainty(isCertain);
    return {
      state,
      why: why ?? null,
      isCertain,
      uncertainSince: this.#uncertainSince ?? null,
      pendingPaths,
      overflows: this.#watch.overflows,
      watchedDirs: this.#watch.watchedDirs,
    };
  }

  #noteCertainty(isCertain: boolean): void {
    if (isCertain) this.#uncertainSince = undefined;
    else this.#uncertainSince ??= this.#d.clock.now();
  }

  async #step(signal: AbortSignal): Promise<void> {
    const { clock } = this.#d;
    let now = clock.monotonic();
    if (now >= this.#nextRescanAt && this.#nextRescanAt > 0)
      this.#rescanWhy ??= this.#nextRescanWhy ?? 'periodic';
    if (!this.#watch.isOpen && this.#lastScanEndedAt > 0 && now >= this.#nextPollAt())
      this.#rescanWhy ??= 'polling';
    const hasDue = this.#dirty.size > 0 && this.#dirty.nextDueIn(now) === 0;
    // The guard also runs on a timer: an unmount need not produce any watcher event.
    const rootCheckMs = this.#d.rootCheckMs ?? DEFAULT_ROOT_CHECK_MS;
    if (this.#rescanWhy !== undefined || hasDue || now >= this.#nextRootCheckAt) {
      this.#nextRootCheckAt = now + rootCheckMs;
      if (!(await this.#guard.check())) {
        // Nothing read from an untrusted root: no deletes, no watcher; look again later.
        this.#dirty.clear();
        this.#watch.close('the volume root cannot be trusted');
        this.#rescanWhy ??= 'root back';
        for (const w of this.#scanWaiters.splice(0)) w();
        await this.#wait(rootCheckMs);
        return;
      }
    }
    if (!this.#watch.isOpen && now >= this.#watch.retryAt) this.#watch.open();
    if (this.#rescanWhy !== undefined) {
      await this.#fullScan(signal);
      return;
    }
    const due = this.#dirty.takeDue(now);
    if (due.length > 0) {
      try {
        for (const path of due) {
          if (path === '') continue;
          const { retry, isFailed } = await captureWatchedPath(path, {
            root: this.#d.root,
            filter: this.#filter,
            reconciler: this.#reconciler,
            scanner: this.#scanner,
            isWatched: (dir) => this.#watch.isWatched(dir),
            signal,
          });
          for (const p of retry) this.#dirty.mark(p, clock.monotonic());
          if (isFailed) this.#retryFailedSoon();
        }
        await this.#batch.flush();
      } catch (err) {
        for (const path of due) this.#dirty.mark(path, clock.monotonic());
        throw err;
      }
      return;
    }
    now = clock.monotonic();
    const untilDue = this.#dirty.nextDueIn(now) ?? Number.POSITIVE_INFINITY;
    const untilRescan = this.#nextRescanAt - now;
    const untilWatchTry = this.#watch.retryAt - now;
    const untilPoll = this.#watch.isOpen ? Number.POSITIVE_INFINITY : this.#nextPollAt() - now;
    const untilRootCheck = this.#nextRootCheckAt - now;
    await this.#wait(Math.max(1, Math.min(untilDue, untilRescan, untilWatchTry, untilPoll, untilRootCheck)));
  }

  /**
   * #fullScan walks the whole volume. On the way it watches every directory again (so one that
   * moved or appeared while events were lost is watched under its name) and afterwards drops
   * the watches of directories it did not meet.
   */
  async #fullScan(signal: AbortSignal): Promise<void> {
    const { clock } = this.#d;
    const why = this.#rescanWhy ?? 'requested';
    // Cleared before the scan: a rescan asked for while it runs must run again afterwards
    // (it may need changes this scan passed by), and its waiter is not among these.
    this.#rescanWhy = undefined;
    const waiters = this.#scanWaiters.splice(0);
    const started = clock.monotonic();
    this.#scanning = why;
    this.#noteCertainty(false);
    try {
      this.#watch.beginSweep();
      const report = await this.#scanner.scan(why, signal);
      this.#watch.endSweep();
      this.#lastScanMs = clock.monotonic() - started;
      this.#lastScanEndedAt = clock.monotonic();
      for (const path of report.unstable) this.#dirty.mark(path, clock.monotonic());
      this.#nextRescanAt = clock.monotonic() + (this.#d.rescanMs ?? DEFAULT_RESCAN_MS);
      this.#nextRescanWhy = undefined;
      if (this.#unrepairedOverflowAt !== undefined && this.#unrepairedOverflowAt <= started) {
        this.#unrepairedOverflowAt = undefined;
        this.#d.events.emit({
          level: 'info',
          type: 'capture.repaired',
          volume: this.#d.volume,
          msg: 'the scan after lost events is done: capture has every change again',
          data: { why, changed: report.changed, ms: Math.round(this.#lastScanMs) },
        });
      }
      if (report.failed > 0) this.#retryFailedSoon();
      else this.#failedRetryMs = 0;
      if (why === 'start' && this.#watch.isOpen) {
        const warning = checkWatchLimits(this.#watch.watchedDirs, readInotifyLimits());
        if (warning)
          this.#d.events.emit({
            level: 'warn',
            type: 'capture.limits-low',
            volume: this.#d.volume,
            ...warning,
          });
      }
    } catch (err) {
      this.#rescanWhy ??= why; // a failed scan runs again after the loop's pause
      throw err;
    } finally {
      this.#scanning = undefined;
      for (const w of waiters) w();
    }
  }

  /** #nextPollAt is when a volume without a watch is scanned next: at most a third of the time scanning. */
  #nextPollAt(): number {
    return this.#lastScanEndedAt + Math.max(DEFAULT_POLL_MS, 2 * this.#lastScanMs);
  }

  /**
   * #retryFailedSoon brings the next full rescan forward after a path could not be read or
   * stored (say, the state directory was full): 1 s, doubling up to a minute while it keeps
   * failing. Waiting for the hourly scan would leave the change unmirrored for that long.
   */
  #retryFailedSoon(): void {
    this.#failedRetryMs = Math.min(Math.max(1000, this.#failedRetryMs * 2), MAX_BACKOFF_MS);
    const at = this.#d.clock.monotonic() + this.#failedRetryMs;
    if (at < this.#nextRescanAt) {
      this.#nextRescanAt = at;
      this.#nextRescanWhy = 'read errors';
    }
  }

  #onPaths(paths: string[], complete: ReadonlySet<string>): void {
    const now = this.#d.clock.monotonic();
    for (const path of paths) {
      if (!this.#dirty.mark(path, now, complete.has(path))) {
        this.#d.events.emit({
          level: 'warn',
          type: 'capture.coalesced',
          volume: this.#d.volume,
          msg: 'too many changed paths at once; a full rescan replaces them',
          data: { dirty: paths.length },
        });
        this.#rescanWhy ??= 'too many changes';
        break;
      }
    }
    this.#wake();
  }

  /** #onLost: events were lost (the kernel's queue overflowed) or went unheard: scan the volume now. */
  #onLost(why: 'overflow' | 'watch restored'): void {
    if (why === 'overflow') {
      this.#unrepairedOverflowAt = this.#d.clock.monotonic();
      this.#noteCertainty(false);
      this.#rescanWhy = 'overflow';
    } else this.#rescanWhy ??= why;
    this.#wake();
  }

  #wake(): void {
    this.#isWoken = true;
    this.#waker?.();
  }

  /** #wait sleeps on the clock for `ms`, or less when woken by an event, a request or stop. */
  async #wait(ms: number): Promise<void> {
    if (this.#isWoken || this.#abort?.signal.aborted) {
      this.#isWoken = false;
      return;
    }
    const ac = new AbortController();
    this.#waker = () => ac.abort();
    try {
      await this.#d.clock.sleep(Math.min(ms, 2 ** 31 - 1), ac.signal);
    } catch {
      // Woken early: the loop looks at what changed.
    } finally {
      this.#waker = undefined;
      this.#isWoken = false;
    }
  }
}
