import { type Clock, errorMessage } from '../core/index.ts';
import type { Logger } from '../sys/index.ts';
import type { ViewApplier } from './view-apply.ts';

/** DEFAULT_APPLY_INTERVAL_MS is how often a view looks for due versions without being woken. */
export const DEFAULT_APPLY_INTERVAL_MS = 1000;
/** DEFAULT_APPLY_RETRY_MIN_MS is the first pause after a failed batch; it doubles on each failure. */
export const DEFAULT_APPLY_RETRY_MIN_MS = 1000;
/** DEFAULT_APPLY_RETRY_MAX_MS caps the pause between retries of a failing view. */
export const DEFAULT_APPLY_RETRY_MAX_MS = 60_000;

/** ApplyFailure is why a view does not move: its batches fail since `since`. */
export interface ApplyFailure {
  since: number;
  message: string;
  /** The loop gave up for good (a failed fsync): only a restart of the agent retries. */
  stopped: boolean;
}

/** ApplyLoopDeps is what an ApplyLoop drives and how it keeps time. */
export interface ApplyLoopDeps {
  applier: ViewApplier;
  clock: Clock;
  log: Logger;
  volume: string;
  intervalMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
}

/**
 * ApplyLoop keeps one view moving: it runs `applyPending` when woken (the receiver calls
 * `wake()` after committing new versions), every interval (delayed versions fall due with
 * time alone), and again at once while batches come back non-empty. A failed batch is retried
 * after a doubling pause, during which a wake does not cut the pause short. The applier reports
 * its own failures as events; the loop never throws, and stops for good only after a failed
 * fsync (the view can no longer be trusted without a restart).
 */
export class ApplyLoop {
  private readonly deps: ApplyLoopDeps;
  private running: Promise<void> | null = null;
  private isStopping = false;
  private isWoken = false;
  /** Ends the current pause early; null while a batch runs. */
  private pauseController: AbortController | null = null;
  private isPauseWakeable = false;
  /** The failure of the batches since the last one that succeeded (null: the view moves). */
  private failing: ApplyFailure | null = null;

  constructor(deps: ApplyLoopDeps) {
    this.deps = deps;
  }

  /** start runs the loop in the background; the first pass removes staging leftovers. */
  start(): void {
    if (this.running) return;
    this.isStopping = false;
    this.running = this.run();
  }

  /**
   * failure says why the view does not move, while its batches fail: since when, the last
   * error, and whether the loop gave up (after a failed fsync). Status shows it; a check reads it.
   */
  get failure(): ApplyFailure | null {
    return this.failing;
  }

  /** wake asks for a pass now, because new versions may be due. */
  wake(): void {
    this.isWoken = true;
    if (this.isPauseWakeable) this.pauseController?.abort();
  }

  /** stop ends the loop once the current batch has finished (its position persisted). */
  async stop(): Promise<void> {
    this.isStopping = true;
    this.pauseController?.abort();
    await this.running;
    this.running = null;
  }

  private async run(): Promise<void> {
    const { applier, log } = this.deps;
    const interval = this.deps.intervalMs ?? DEFAULT_APPLY_INTERVAL_MS;
    const retryMin = this.deps.retryMinMs ?? DEFAULT_APPLY_RETRY_MIN_MS;
    const retryMax = this.deps.retryMaxMs ?? DEFAULT_APPLY_RETRY_MAX_MS;
    let retry = 0;
    let isSwept = false;
    while (!this.isStopping) {
      this.isWoken = false;
      let consumed = 0;
      try {
        if (!isSwept) {
          await applier.start();
          isSwept = true;
        }
        consumed = await applier.applyPending();
        retry = 0;
        this.failing = null;
      } catch (err) {
        this.failing = {
          since: this.failing?.since ?? this.deps.clock.now(),
          message: errorMessage(err),
          stopped: applier.isStopped,
        };
        if (applier.isStopped) {
          // The applier reported the failed fsync; retrying could "succeed" over lost data.
          log.error('apply loop stopped', { volume: this.deps.volume, error: errorMessage(err) });
          return;
        }
        retry = retry === 0 ? retryMin : Math.min(retry * 2, retryMax);
        log.warn('apply retry scheduled', { retryMs: retry, error: errorMessage(err) });
      }
      if (this.isStopping) break;
      if (retry > 0) {
        await this.pause(retry, false);
      } else if (consumed === 0 && !this.isWoken) {
        await this.pause(interval, true);
      }
    }
  }

  /** pause sleeps `ms`; an idle pause ends early on wake or stop, a retry pause only on stop. */
  private async pause(ms: number, isWakeable: boolean): Promise<void> {
    const controller = new AbortController();
    this.pauseController = controller;
    this.isPauseWakeable = isWakeable;
    try {
      await this.deps.clock.sleep(ms, controller.signal);
    } catch {
      // Aborted by wake or stop: the loop condition decides what happens next.
    } finally {
      this.pauseController = null;
    }
  }
}
