import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FILE_CLOCK_REREAD_MS } from '../../src/sys/index.ts';

/**
 * TestClockFile drives the clock of every agent started with its `env` (HINDSIGHT_TEST_CLOCK):
 * `advance(ms)` moves their wall and monotonic time forward at once, so a four-hour funnel
 * passes in a moment. The file is written atomically (write, then rename).
 */
export class TestClockFile {
  readonly file: string;
  #offsetMs = 0;

  constructor(dir: string) {
    this.file = path.join(dir, 'test-clock');
    this.#write();
  }

  /** env is what an agent needs in its environment to follow this clock. */
  get env(): Record<string, string> {
    return { HINDSIGHT_TEST_CLOCK: this.file };
  }

  /** offsetMs is how far the agents' clocks are ahead of the real one. */
  get offsetMs(): number {
    return this.#offsetMs;
  }

  /** now is the agents' wall-clock time. */
  now(): number {
    return Date.now() + this.#offsetMs;
  }

  /**
   * advance moves the agents' time forward by `ms`. It returns once every agent has looked at
   * the file again (each trusts a read for FILE_CLOCK_REREAD_MS), so whatever the caller does
   * next happens after the step in the agents' eyes too: a change made at once would otherwise
   * be stamped with the time before the step (e2e/rewind, seed 3534393025).
   */
  advance(ms: number): void {
    this.#offsetMs += ms;
    this.#write();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3 * FILE_CLOCK_REREAD_MS);
  }

  #write(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, String(this.#offsetMs));
    renameSync(tmp, this.file);
  }
}
