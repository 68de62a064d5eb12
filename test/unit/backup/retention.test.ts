import assert from 'node:assert/strict';
import { it } from 'node:test';
import { keptBackups } from '../../../src/backup/retention.ts';

const HOUR = 3_600_000;
const START = Date.UTC(2026, 0, 1); // a Thursday, at midnight
/** Four backups a day for 90 days, ids by index, newest last. */
const backups = Array.from({ length: 360 }, (_, i) => ({ id: String(i), at: START + i * 6 * HOUR }));

it('keeps the newest N', () => {
  assert.deepEqual([...keptBackups(backups, { last: 3 })].sort(), ['357', '358', '359']);
});

it('keeps the newest backup of each of the newest N days, weeks and months', () => {
  const days = keptBackups(backups, { daily: 7 });
  assert.equal(days.size, 7);
  assert.ok(days.has('359'), 'the newest of the newest day');
  for (const id of days) assert.equal(Number(id) % 4, 3, 'the last backup of its day');
  const weeks = keptBackups(backups, { weekly: 4 });
  assert.equal(weeks.size, 4);
  const months = keptBackups(backups, { monthly: 12 });
  assert.equal(months.size, 3, 'only three months exist');
});

it('keeps the union of the rules, and refuses a policy that keeps nothing', () => {
  const both = keptBackups(backups, { last: 2, daily: 2 });
  assert.deepEqual([...both].sort(), ['355', '358', '359']);
  assert.throws(() => keptBackups(backups, {}), /must keep something/);
  assert.throws(() => keptBackups(backups, { daily: 0 }), /must keep something/);
});
