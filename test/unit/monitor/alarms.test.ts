import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Clock, EventInput } from '../../../src/core/index.ts';
import { Alarms, type CheckResult, type CheckState, type Notice } from '../../../src/monitor/index.ts';
import { type Catalog, openCatalog } from '../../../src/store/index.ts';
import { createLogger } from '../../../src/sys/index.ts';

const quiet = createLogger('test', { write: () => {} });
const T = 1_800_000_000_000;
const MINUTE = 60_000;

/** StepClock is a wall clock that moves only when the test says so. */
class StepClock implements Clock {
  t = T;
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return this.t;
  }
  sleep(): Promise<void> {
    return new Promise(() => {});
  }
  every(): () => void {
    return () => {};
  }
}

/** Rig is a node's alarms on a real catalog, telling a recording notice sink and event sink. */
class Rig {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'hindsight-alarms-'));
  readonly clock = new StepClock();
  readonly catalog: Catalog = openCatalog(path.join(this.dir, 'catalog.db'));
  readonly notices: Notice[] = [];
  readonly events: EventInput[] = [];
  readonly alarms = new Alarms({
    catalog: this.catalog,
    clock: this.clock,
    events: { emit: (e) => this.events.push(e) },
    log: quiet,
    node: 'alpha',
    notices: { notify: (n) => this.notices.push(n) },
    protocol: (volume) => [{ id: 1, t: T, level: 'info', type: 'agent.started', msg: `about ${volume}` }],
    hookTimeoutMs: 1_000,
  });

  /** told lists the notices so far as "change check subject state". */
  told(): string[] {
    return this.notices.map((n) =>
      n.kind === 'alarm' ? `${n.change} ${n.alarm.check} ${n.alarm.subject} ${n.alarm.state}` : n.kind,
    );
  }

  close(): void {
    this.catalog.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function result(subject: string, state: CheckState, over: Partial<CheckResult> = {}): CheckResult {
  return {
    check: 'lag',
    subject,
    volume: 'docs',
    state,
    since: T,
    message: `${subject} is ${state}`,
    value: null,
    threshold: null,
    ranAt: T,
    ...over,
  };
}

async function waitFor(what: string, cond: () => boolean, limitMs = 20_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > until) assert.fail(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Alarms', () => {
  let rig: Rig;
  beforeEach(() => {
    rig = new Rig();
  });
  afterEach(() => rig.close());

  it('opens one alarm when a subject leaves ok, tells a turn for the worse once, closes it when ok', () => {
    const s = 'docs → beta';
    rig.alarms.observe('lag', [result(s, 'ok')]);
    assert.deepEqual(rig.told(), [], 'ok opens nothing');

    rig.alarms.observe('lag', [result(s, 'warning')]);
    assert.deepEqual(rig.told(), [`opened lag ${s} warning`]);
    const [opened] = rig.alarms.open();
    assert.equal(opened.state, 'warning');
    assert.equal(opened.volume, 'docs');
    assert.equal(opened.node, 'alpha');
    assert.equal(opened.openedAt, T);
    const first = rig.notices[0];
    assert.ok(first.kind === 'alarm');
    assert.equal(first.protocol[0].msg, 'about docs', 'the notice carries the volume’s protocol');

    rig.clock.t += MINUTE;
    rig.alarms.observe('lag', [result(s, 'critical')]);
    rig.clock.t += MINUTE;
    rig.alarms.observe('lag', [result(s, 'critical')]);
    rig.alarms.observe('lag', [result(s, 'critical', { message: 'behind by 6 min' })]);
    assert.deepEqual(rig.told(), [`opened lag ${s} warning`, `worse lag ${s} critical`]);
    const [now] = rig.alarms.open();
    assert.equal(now.id, opened.id, 'the same alarm, updated');
    assert.equal(now.message, 'behind by 6 min');
    assert.equal(now.updatedAt, T + 2 * MINUTE);

    rig.alarms.observe('lag', [result(s, 'warning')]);
    assert.equal(rig.notices.length, 2, 'getting better is not told until it is over');

    rig.clock.t += MINUTE;
    rig.alarms.observe('lag', [result(s, 'ok', { message: 'in sync' })]);
    assert.deepEqual(rig.told().slice(2), [`resolved lag ${s} warning`]);
    assert.deepEqual(rig.alarms.open(), []);
    const [closed] = rig.alarms.recent(60 * MINUTE);
    assert.equal(closed.id, opened.id);
    assert.equal(closed.closedAt, T + 3 * MINUTE);
    assert.equal(closed.message, 'in sync');
    assert.deepEqual(
      rig.events.map((e) => e.type),
      ['alarm.opened', 'alarm.changed', 'alarm.closed'],
    );

    rig.alarms.observe('lag', [result(s, 'warning')]);
    assert.equal(rig.alarms.open().length, 1);
    assert.notEqual(rig.alarms.open()[0].id, opened.id, 'leaving ok again opens a new alarm');
  });

  it('keeps the subjects of one check apart, and the checks apart', () => {
    rig.alarms.observe('lag', [result('a', 'warning'), result('b', 'critical')]);
    rig.alarms.observe('tiers', [result('a', 'warning', { check: 'tiers', volume: null })]);
    assert.equal(rig.alarms.open().length, 3);
    rig.alarms.observe('lag', [result('a', 'ok'), result('b', 'critical')]);
    assert.deepEqual(
      rig.alarms
        .open()
        .map((a) => `${a.check} ${a.subject}`)
        .sort(),
      ['lag b', 'tiers a'],
    );
  });

  it('closes the alarm of a subject no longer measured', () => {
    rig.alarms.observe('tiers', [result('nas', 'warning'), result('s3', 'critical')]);
    rig.alarms.observe('tiers', [result('s3', 'critical')]);
    const open = rig.alarms.open();
    assert.deepEqual(
      open.map((a) => a.subject),
      ['s3'],
    );
    assert.deepEqual(rig.told().slice(2), ['resolved tiers nas warning']);
    const nas = rig.alarms.recent(MINUTE).find((a) => a.subject === 'nas');
    assert.equal(nas?.message, 'no longer measured');
  });

  it('reminds of an open alarm after the reminder interval, once per interval, not once acknowledged', () => {
    rig.alarms.configure({ reminderMs: 60 * MINUTE });
    assert.equal(rig.alarms.reminderMs(), 60 * MINUTE);
    rig.alarms.observe('lag', [result('a', 'critical'), result('b', 'warning')]);
    rig.notices.length = 0;

    rig.clock.t = T + 59 * MINUTE;
    rig.alarms.remind();
    assert.deepEqual(rig.told(), [], 'not before the interval');

    rig.clock.t = T + 61 * MINUTE;
    rig.alarms.remind();
    assert.deepEqual(rig.told().sort(), ['reminder lag a critical', 'reminder lag b warning']);
    rig.alarms.remind();
    assert.equal(rig.notices.length, 2, 'reminded already');

    const b = rig.alarms.open().find((a) => a.subject === 'b')!;
    const acked = rig.alarms.ack(b.id, 'ops');
    assert.equal(acked.ackedBy, 'ops');
    assert.equal(acked.ackedAt, T + 61 * MINUTE);
    assert.ok(rig.events.some((e) => e.type === 'alarm.acked' && e.data?.id === b.id));

    rig.notices.length = 0;
    rig.clock.t = T + 122 * MINUTE;
    rig.alarms.remind();
    assert.deepEqual(rig.told(), ['reminder lag a critical'], 'the acknowledged alarm is quiet');
    assert.equal(
      rig.events.filter((e) => e.type === 'alarm.changed').length,
      0,
      'a reminder is a notice, not an event',
    );
  });

  it('refuses to acknowledge an unknown or a closed alarm, and a bad setting', () => {
    assert.throws(() => rig.alarms.ack(999, null), { code: 'E_ALARM_UNKNOWN' });
    rig.alarms.observe('lag', [result('a', 'warning')]);
    const [a] = rig.alarms.open();
    rig.alarms.observe('lag', [result('a', 'ok')]);
    assert.throws(() => rig.alarms.ack(a.id, null), { code: 'E_ALARM_CLOSED' });
    assert.throws(() => rig.alarms.configure({ reminderMs: 1000 }), { code: 'E_ALARM_BAD_SETTING' });
    assert.throws(() => rig.alarms.configure({ hook: 'siren.sh' }), { code: 'E_ALARM_BAD_SETTING' });
  });

  it('runs the on-alarm hook for a critical alarm with HINDSIGHT_ALARM_* and reports it as an event', async () => {
    const out = path.join(rig.dir, 'hook.env');
    const hook = path.join(rig.dir, 'siren.sh');
    writeFileSync(hook, `#!/bin/sh\nenv | grep '^HINDSIGHT_' | sort > '${out}'\necho sounded\n`);
    chmodSync(hook, 0o755);
    assert.deepEqual(rig.alarms.configure({ hook }), { reminderMs: 4 * 60 * MINUTE, hook });

    rig.alarms.observe('lag', [result('docs → beta', 'critical', { message: 'link disconnected' })]);
    const [alarm] = rig.alarms.open();
    await waitFor('hook.finished', () => rig.events.some((e) => e.type === 'hook.finished'));
    const finished = rig.events.find((e) => e.type === 'hook.finished')!;
    assert.equal(finished.volume, 'docs');
    assert.equal(finished.data?.alarm, alarm.id);
    assert.equal(finished.data?.outcome, 'exit 0');
    assert.equal(finished.data?.output, 'sounded\n');

    const env = Object.fromEntries(
      readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    assert.deepEqual(env, {
      HINDSIGHT_ALARM_CHANGE: 'opened',
      HINDSIGHT_ALARM_CHECK: 'lag',
      HINDSIGHT_ALARM_ID: String(alarm.id),
      HINDSIGHT_ALARM_MESSAGE: 'link disconnected',
      HINDSIGHT_ALARM_STATE: 'critical',
      HINDSIGHT_ALARM_SUBJECT: 'docs → beta',
      HINDSIGHT_NODE: 'alpha',
      HINDSIGHT_VOLUME: 'docs',
    });
  });

  it('reports an on-alarm hook that fails as hook.failed', async () => {
    rig.alarms.configure({ hook: path.join(rig.dir, 'no-such-hook') });
    rig.alarms.observe('guard', [result('docs', 'critical', { check: 'guard' })]);
    await waitFor('hook.failed', () => rig.events.some((e) => e.type === 'hook.failed'));
    assert.equal(
      rig.events.some((e) => e.type === 'hook.finished'),
      false,
    );
    assert.deepEqual(rig.alarms.configure({ hook: '' }).hook, null);
  });

  it('stops an on-alarm hook past its time limit with all it started, and says so', async () => {
    // A shell that waits for its own child: killing the shell alone would leave `sleep`
    // holding the output pipe, and the outcome would never come. (613: no other test sleeps so long.)
    const hook = path.join(rig.dir, 'stuck.sh');
    writeFileSync(hook, '#!/bin/sh\necho starting\nsleep 613\n');
    chmodSync(hook, 0o755);
    rig.alarms.configure({ hook });
    rig.alarms.observe('guard', [result('docs', 'critical', { check: 'guard' })]);
    await waitFor('hook.failed', () => rig.events.some((e) => e.type === 'hook.failed'));
    const failed = rig.events.find((e) => e.type === 'hook.failed')!;
    assert.equal(failed.data?.outcome, 'killed by SIGKILL');
    assert.match(String(failed.data?.output), /starting/);
    const left = execFileSync('ps', ['-eo', 'args']).toString();
    assert.equal(left.includes('sleep 613'), false, 'the sleep the hook started was stopped too');
  });
});
