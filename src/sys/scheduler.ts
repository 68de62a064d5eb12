import { type Clock, errorMessage } from '../core/index.ts';
import type { Logger } from './log.ts';

/** Schedule says how long to wait, from a moment (wall-clock ms), until a job's next run. */
export interface Schedule {
  /** waitFrom returns the ms from `nowMs` until the next run (0: now). */
  waitFrom(nowMs: number): number;
  /** text describes it for people and logs ("every 10 min", "daily at 02:00"). */
  readonly text: string;
}

/** scheduleEvery runs a job `ms` after the end of its last run (the first run `ms` after it is added). */
export function scheduleEvery(ms: number): Schedule {
  return { waitFrom: () => ms, text: `every ${ms} ms` };
}

/**
 * scheduleDailyAt runs a job once a day at `hh:mm` local time. A day the clock skips over (a jump, a
 * stopped process) is not made up for: the job runs at the next such time.
 */
export function scheduleDailyAt(hh: number, mm: number): Schedule {
  const text = `daily at ${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}`;
  return {
    text,
    waitFrom(nowMs) {
      const next = new Date(nowMs);
      next.setHours(hh, mm, 0, 0);
      if (next.getTime() <= nowMs) next.setDate(next.getDate() + 1);
      return next.getTime() - nowMs;
    },
  };
}

/** SchedulerDeps: the clock jobs wait on, and where a failed run is reported. */
export interface SchedulerDeps {
  clock: Clock;
  log: Logger;
  /** Told of every failed run (the job runs again at its next time); the daemon turns it into an event. */
  onFailure?: (job: string, err: unknown) => void;
}

interface Job {
  name: string;
  schedule: Schedule;
  run: () => Promise<unknown> | unknown;
  done: Promise<void>;
}

/**
 * Scheduler runs named background jobs on the Clock (so a test clock moves them too): each at
 * its schedule, never two runs of one job at once, a failure logged and reported and the job
 * run again at its next time. Checks, backups, garbage collection and drills are its jobs.
 */
export class Scheduler {
  readonly #deps: SchedulerDeps;
  readonly #jobs = new Map<string, Job>();
  readonly #stop = new AbortController();

  constructor(deps: SchedulerDeps) {
    this.#deps = deps;
  }

  /**
   * add starts job `name` on `schedule`; a job of that name must not exist. Returns the function
   * that removes the job (its current run, if any, finishes).
   */
  add(name: string, schedule: Schedule, run: () => Promise<unknown> | unknown): () => void {
    if (this.#jobs.has(name)) throw new Error(`scheduler: a job named ${name} exists already`);
    const cancel = new AbortController();
    const stopped = AbortSignal.any([this.#stop.signal, cancel.signal]);
    const job: Job = { name, schedule, run, done: Promise.resolve() };
    job.done = this.#loop(job, stopped);
    this.#jobs.set(name, job);
    return () => {
      cancel.abort();
      this.#jobs.delete(name);
    };
  }

  /** names lists the jobs, for status. */
  names(): string[] {
    return [...this.#jobs.keys()];
  }

  /** stop ends every job and waits for the runs in progress. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.allSettled([...this.#jobs.values()].map((j) => j.done));
    this.#jobs.clear();
  }

  async #loop(job: Job, stopped: AbortSignal): Promise<void> {
    const { clock, log } = this.#deps;
    while (!stopped.aborted) {
      try {
        await clock.sleep(Math.max(0, job.schedule.waitFrom(clock.now())), stopped);
      } catch {
        return; // stopped while waiting
      }
      try {
        await job.run();
      } catch (err) {
        log.warn('scheduled job failed', { job: job.name, error: errorMessage(err) });
        this.#deps.onFailure?.(job.name, err);
      }
    }
  }
}
