import { existsSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { needPrerequisite } from './prerequisite.ts';

/** Where Debian, Ubuntu and a source build put libfaketime (package `faketime`). */
const LIBRARY_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
  '/usr/local/lib/faketime/libfaketime.so.1',
];

/** faketimeLibrary returns the path of libfaketime.so.1, or null when it is not installed. */
export function faketimeLibrary(): string | null {
  return LIBRARY_CANDIDATES.find((p) => existsSync(p)) ?? null;
}

/**
 * needFaketime fails the test in CI and skips it loudly elsewhere when libfaketime is missing,
 * like needLab for the network lab.
 */
export function needFaketime(t: TestContext): boolean {
  return needPrerequisite(
    t,
    faketimeLibrary() === null ? 'libfaketime is missing (apt-get install faketime)' : null,
  );
}

/**
 * FakeClock is one process's wall clock under libfaketime: an offset from the real clock, kept
 * in a file that the library reads on every call (FAKETIME_NO_CACHE), so `set` steps the clock
 * of a running agent at once, as `date -s` or an NTP step would. CLOCK_MONOTONIC stays real
 * unless `fakeMonotonic` (a real step never moves it), and file timestamps are left alone
 * (NO_FAKE_STAT): the kernel stamps files with the real time whatever a process believes.
 */
export class FakeClock {
  readonly file: string;
  /** The environment that puts a process (an agent, its CLI) on this clock. */
  readonly env: Record<string, string>;

  constructor(dir: string, name: string, options: { fakeMonotonic?: boolean } = {}) {
    const library = faketimeLibrary();
    if (library === null) throw new Error('libfaketime is missing (apt-get install faketime)');
    this.file = path.join(dir, `faketime-${name}.rc`);
    this.set(0);
    this.env = {
      LD_PRELOAD: library,
      FAKETIME_TIMESTAMP_FILE: this.file,
      FAKETIME_NO_CACHE: '1',
      NO_FAKE_STAT: '1',
      ...(options.fakeMonotonic ? {} : { FAKETIME_DONT_FAKE_MONOTONIC: '1' }),
    };
  }

  /** set moves the clock to the real time plus `offsetMs` (negative: behind); atomic for readers. */
  set(offsetMs: number): void {
    const seconds = Math.round(offsetMs / 1000);
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
    renameSync(tmp, this.file);
  }
}
