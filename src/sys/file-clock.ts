import { readFileSync, statSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { type Clock, HindsightError } from '../core/index.ts';
import { hrtimeMs, SystemClock } from './system-clock.ts';

/** TEST_CLOCK_ENV names the variable that points an agent (or any command) at a test clock file. */
export const TEST_CLOCK_ENV = 'HINDSIGHT_TEST_CLOCK';

/** How long a read of the clock file is trusted before the file is looked at again. */
export const FILE_CLOCK_REREAD_MS = 20;
/** How often sleeps and timers of a FileClock look whether the clock jumped. */
const POLL_MS = 25;

/**
 * FileClock is the real clock shifted forward by a number of milliseconds read from a file,
 * so that tests can move time for several processes at once: a four-hour funnel is tested by
 * writing `14400000` into the file. Both wall and monotonic time move by the same amount, and
 * the shift never goes back (a smaller value in the file is ignored), so monotonic time stays
 * monotonic. Sleeps and timers end as soon as shifted time has passed their deadline.
 *
 * The file holds a decimal number of milliseconds; write it atomically (write, then rename).
 */
export class FileClock implements Clock {
  readonly #file: string;
  #offset = 0;
  #readAt = Number.NEGATIVE_INFINITY;
  /** What the file was when last read (inode and mtime): a rename puts a new inode in place. */
  #seen = '';

  constructor(file: string) {
    this.#file = file;
    this.#refresh(true);
  }

  now(): number {
    return Date.now() + this.offset();
  }

  monotonic(): number {
    return hrtimeMs() + this.offset();
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    const deadline = this.monotonic() + ms;
    for (;;) {
      const left = deadline - this.monotonic();
      if (left <= 0) return;
      await delay(Math.min(left, POLL_MS), undefined, { signal });
    }
  }

  every(ms: number, fn: () => void): () => void {
    let next = this.monotonic() + ms;
    const timer = setInterval(
      () => {
        const now = this.monotonic();
        if (now < next) return;
        // After a jump the timer fires once, not once per missed interval.
        next = Math.max(next + ms, now);
        fn();
      },
      Math.min(ms, POLL_MS),
    );
    timer.unref();
    return () => clearInterval(timer);
  }

  /** offset is the current shift in ms. */
  offset(): number {
    this.#refresh(false);
    return this.#offset;
  }

  #refresh(isFirst: boolean): void {
    const real = hrtimeMs();
    if (!isFirst && real - this.#readAt < FILE_CLOCK_REREAD_MS) return;
    this.#readAt = real;
    try {
      // The inode as well as the mtime: two atomic writes within one tick of the file system's
      // timestamps have the same mtime, and the second one was missed.
      const st = statSync(this.#file);
      const seen = `${st.ino}:${st.mtimeMs}`;
      if (seen === this.#seen) return;
      const text = readFileSync(this.#file, 'utf8').trim();
      const value = Number(text);
      if (!Number.isSafeInteger(value) || value < 0) throw new Error(`not a whole number of ms: "${text}"`);
      this.#seen = seen;
      this.#offset = Math.max(this.#offset, value);
    } catch (err) {
      if (!isFirst) return; // keep the last good value; the test writes the file atomically
      throw new HindsightError(
        'E_CONFIG_INVALID',
        `test clock file ${this.#file}: ${(err as Error).message}`,
        {
          hint: `${TEST_CLOCK_ENV} must name a file holding a whole number of milliseconds, e.g. 0`,
        },
      );
    }
  }
}

/**
 * clockFromEnv returns a FileClock when HINDSIGHT_TEST_CLOCK is set, and the SystemClock
 * otherwise. Only tests set the variable.
 */
export function clockFromEnv(env: NodeJS.ProcessEnv = process.env): Clock {
  const file = env[TEST_CLOCK_ENV];
  return file ? new FileClock(file) : new SystemClock();
}
