import type { Clock } from '../core/index.ts';
import { type Catalog, readMeta, writeMeta } from '../store/index.ts';
import { newestReceipt } from './versions.ts';

const META_KEY = 'funnel_clock';

/**
 * FunnelClock is the time the funnel counts in: this node's monotonic clock, carried across
 * agent restarts so that a delay keeps counting while the agent is down and never shrinks
 * because the wall clock jumped.
 *
 * Funnel time is `clock.monotonic() + offset`. Within one boot the kernel's monotonic clock is
 * shared by every process, so the offset saved by the last agent stays valid. After a reboot
 * the monotonic clock starts again; funnel time then continues from the newest receipt plus the
 * wall-clock time since it (never less than zero): the one moment the wall clock is trusted.
 * The first start sets funnel time equal to wall time, which keeps the numbers readable.
 */
export class FunnelClock {
  readonly #clock: Clock;
  readonly #offset: number;

  constructor(catalog: Catalog, clock: Clock, boot: string) {
    this.#clock = clock;
    const saved = readMeta(catalog, META_KEY);
    const state = saved ? (JSON.parse(saved) as { boot: string; offset: number }) : null;
    if (state && state.boot === boot) {
      this.#offset = state.offset;
      return;
    }
    const newest = newestReceipt(catalog);
    const wall = clock.now();
    const funnelNow = newest ? newest.funnelMs + Math.max(0, wall - newest.wallMs) : wall;
    this.#offset = Math.round(funnelNow - clock.monotonic());
    writeMeta(catalog, META_KEY, JSON.stringify({ boot, offset: this.#offset }));
  }

  /** now returns the current funnel time in ms. */
  now(): number {
    return Math.floor(this.#clock.monotonic() + this.#offset);
  }
}
