/**
 * `npm test`: type check, lint, the layering check (docs/layering.md), then every unit and
 * end-to-end suite in one node:test run (so the summary at the end counts them all). In CI
 * (CI=true) a missing prerequisite fails the run; on a laptop the suites that need one skip
 * loudly.
 */
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';

function step(what: string, cmd: string, args: string[]): void {
  process.stdout.write(`\n== ${what}\n`);
  const res = spawnSync(cmd, args, { stdio: 'inherit' });
  if (res.status !== 0) {
    process.stdout.write(`\n${what} failed (exit ${res.status})\n`);
    process.exit(res.status ?? 1);
  }
}

const bin = 'node_modules/.bin';
step('type check', `${bin}/tsc`, ['--noEmit', '-p', '.']);
step('lint', `${bin}/biome`, ['check', 'src', 'test', 'bench', 'scripts']);
step('layers', process.execPath, ['scripts/check-layers.ts', 'src']);
const files = [...globSync('test/unit/**/*.test.ts'), ...globSync('test/e2e/**/*.test.ts')].sort();
const only = process.argv.slice(2);
step('tests', process.execPath, [
  '--test',
  '--test-concurrency=2',
  '--test-timeout=900000',
  ...(only.length > 0 ? only : files),
]);
