import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventInput } from '../../../src/core/index.ts';
import { ClockSkewAlarm } from '../../../src/link/clock-skew.ts';

function alarm(): { alarm: ClockSkewAlarm; events: EventInput[] } {
  const events: EventInput[] = [];
  return { alarm: new ClockSkewAlarm('beta', { emit: (e) => events.push(e) }, 2000), events };
}

test('a large offset raises link.clock-skew once, with the offset, however often it is measured', () => {
  const { alarm: a, events } = alarm();
  a.observe(150);
  a.observe(-1999);
  assert.deepEqual(events, [], 'within the threshold: no alert');
  a.observe(-10_800_000.4);
  a.observe(-10_800_001);
  a.observe(3000);
  assert.deepEqual(events, [
    {
      level: 'warn',
      type: 'link.clock-skew',
      peer: 'beta',
      msg: 'peer clock differs',
      data: { offsetMs: -10_800_000, thresholdMs: 2000 },
    },
  ]);
});

test('the alert clears only within half the threshold, and can be raised again', () => {
  const { alarm: a, events } = alarm();
  a.observe(5000);
  a.observe(1500); // under the threshold but not under half: an offset at the edge must not flap
  a.observe(2500);
  assert.deepEqual(
    events.map((e) => e.type),
    ['link.clock-skew'],
  );
  a.observe(-900);
  assert.deepEqual(events[1], {
    level: 'info',
    type: 'link.clock-ok',
    peer: 'beta',
    msg: 'peer clock agrees again',
    data: { offsetMs: -900, thresholdMs: 2000 },
  });
  a.observe(-7000);
  assert.deepEqual(
    events.map((e) => e.type),
    ['link.clock-skew', 'link.clock-ok', 'link.clock-skew'],
  );
  assert.equal(events[2].data?.offsetMs, -7000);
});
