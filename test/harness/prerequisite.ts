import type { TestContext } from 'node:test';

/**
 * needPrerequisite decides what a test does when something it needs is missing (`missing`
 * says what, or is undefined when nothing is): in CI (CI=true) the test fails, because a
 * suite that silently skipped would prove nothing; on a developer's machine it skips loudly.
 * Returns true when the test can run.
 */
export function needPrerequisite(t: TestContext, missing: string | null | undefined): boolean {
  if (missing === null || missing === undefined) return true;
  if (process.env.CI) throw new Error(`prerequisite missing in CI: ${missing}`);
  t.diagnostic(`SKIPPED LOUDLY: ${missing}`);
  process.stderr.write(`\n*** ${t.name}: SKIPPED: ${missing} ***\n`);
  t.skip(missing);
  return false;
}
