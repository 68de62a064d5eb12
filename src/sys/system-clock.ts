import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../core/index.ts';

/** SystemClock is the real Clock: wall time from Date, monotonic time from performance.now. */
export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }

  monotonic(): number {
    return performance.now();
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
