import type { TestContext } from 'node:test';
import { seedFromEnv } from './rng.ts';

/**
 * What a fault suite says about its run, in a form people and `npm run test:chaos` both read:
 * the seed first (so any failure can be repeated), and its counts at the end.
 */

/** chaosSeed picks the run's seed ($HINDSIGHT_SEED or fresh) and prints it. */
export function chaosSeed(t: TestContext, suite: string): number {
  const seed = seedFromEnv();
  t.diagnostic(`seed ${seed} (HINDSIGHT_SEED to repeat)`);
  process.stderr.write(`${suite}: seed ${seed} (HINDSIGHT_SEED to repeat)\n`);
  return seed;
}

/** chaosSummary prints a run's counts on a line the extended tier collects ("chaos-summary "). */
export function chaosSummary(t: TestContext, suite: string, text: string): void {
  t.diagnostic(text);
  process.stderr.write(`chaos-summary ${suite}: ${text}\n`);
}
