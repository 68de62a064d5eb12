import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../core/index.ts';

/**
 * SystemClock is the real Clock: wall time from Date; monotonic time from the kernel's
 * CLOCK_MONOTONIC (process.hrtime), which on Linux counts from boot, so every process of one
 * boot reads the same monotonic time. The funnel relies on that across agent restarts.
 */
export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }

  monotonic(): number {
    return hrtimeMs();
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return delay(ms, undefined, { signal });
  }

  every(ms: number, fn: () => void): () => void {
    const timer = setInterval(fn, ms);
    timer.unref();
    return () => clearInterval(timer);
  }
}

/** hrtimeMs is CLOCK_MONOTONIC in milliseconds (with a fraction). */
export function hrtimeMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}
