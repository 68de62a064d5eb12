import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Clock, EventInput } from '../../../src/core/index.ts';
import {
  Alarms,
  type CheckFacts,
  type CheckResult,
  Checks,
  type Notice,
  parseThreshold,
} from '../../../src/monitor/index.ts';
import { type Catalog, openCatalog } from '../../../src/store/index.ts';
import { createLogger, Scheduler } from '../../../src/sys/index.ts';

const quiet = createLogger('test', { write: () => {} });
const T = 1_800_000_000_000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** StepClock is a wall clock that moves only when the test says so; the checks never sleep on it. */
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

function noFacts(now: number): CheckFacts {
  return {
    node: 'alpha',
    now,
    disks: [],
    mirrors: [],
    upstreams: [],
    views: [],
    guardTrips: [],
    backups: [],
    tiers: [],
    drills: [],
    certificates: [],
    witnesses: [],
  };
}

/** Rig is the checks and alarms of one node on a real catalog in a temp dir, with facts a test sets. */
class Rig {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'hindsight-checks-'));
  readonly clock = new StepClock();
  readonly catalog: Catalog = openCatalog(path.join(this.dir, 'catalog.db'));
  readonly notices: Notice[] = [];
  readonly events: EventInput[] = [];
  readonly scheduler = new Scheduler({ clock: this.clock, log: quiet });
  readonly alarms = new Alarms({
    catalog: this.catalog,
    clock: this.clock,
    events: { emit: (e) => this.events.push(e) },
    log: quiet,
    node: 'alpha',
    notices: { notify: (n) => this.notices.push(n) },
    protocol: () => [],
  });
  facts: Partial<CheckFacts> = {};
  readonly checks = new Checks({
    catalog: this.catalog,
    clock: this.clock,
    log: quiet,
    scheduler: this.scheduler,
    alarms: this.alarms,
    facts: () => ({ ...noFacts(this.clock.now()), ...this.facts }),
  });

  /** script writes an executable shell script into the rig's directory and returns its path. */
  script(name: string, body: string): string {
    const file = path.join(this.dir, name);
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
    return file;
  }

  async close(): Promise<void> {
    await this.scheduler.stop();
    this.catalog.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function only(results: CheckResult[], subject: string): CheckResult {
  const found = results.filter((r) => r.subject === subject);
  assert.equal(found.length, 1, `one result for ${subject}: ${JSON.stringify(results)}`);
  return found[0];
}

/** isRunning: the process exists and is not a zombie waiting for a parent that no longer reaps it. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor(what: string, cond: () => boolean, limitMs = 20_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > until) assert.fail(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('parseThreshold', () => {
  it('reads percentages and times in the unit of the check', () => {
    assert.equal(parseThreshold('15%', '%', 'x'), 15);
    assert.equal(parseThreshold('15', '%', 'x'), 15);
    assert.equal(parseThreshold('12.5 %', '%', 'x'), 12.5);
    assert.equal(parseThreshold('5m', 's', 'x'), 300);
    assert.equal(parseThreshold('90s', 's', 'x'), 90);
    assert.equal(parseThreshold('4h', 's', 'x'), 14_400);
    assert.equal(parseThreshold('4h', 'h', 'x'), 4);
    assert.equal(parseThreshold('30m', 'h', 'x'), 0.5);
    assert.equal(parseThreshold('30d', 'd', 'x'), 30);
    assert.equal(parseThreshold('2d', 'h', 'x'), 48);
    assert.equal(parseThreshold('42', 's', 'x'), 42);
  });

  it('refuses what is not a threshold in the unit, naming what it was for', () => {
    for (const [text, unit] of [
      ['abc', '%'],
      ['abc', 's'],
      ['150%', '%'],
      ['5m', '%'],
      ['15%', 's'],
      ['-5', '%'],
      ['', 'd'],
    ] as const) {
      assert.throws(
        () => parseThreshold(text, unit, 'disk-free --warn'),
        (err: Error & { code?: string }) =>
          err.code === 'E_CHECK_BAD_THRESHOLD' && err.message.startsWith('disk-free --warn'),
        `"${text}" in ${unit}`,
      );
    }
  });
});

describe('Checks', () => {
  let rig: Rig;
  beforeEach(() => {
    rig = new Rig();
  });
  afterEach(() => rig.close());

  describe('disk-free', () => {
    it('judges the real free space of a path against its thresholds', async () => {
      rig.facts = { disks: [{ path: rig.dir, what: 'the state directory', volume: null }] };
      const st = statfsSync(rig.dir);
      const pct = (st.bavail / st.blocks) * 100;
      assert.ok(pct > 0 && pct < 100, `the test needs a disk neither full nor empty (${pct}%)`);

      rig.checks.set('disk-free', { warn: '0', crit: '0' });
      let r = only(await rig.checks.run('disk-free'), rig.dir);
      assert.equal(r.state, 'ok');
      assert.ok(Math.abs((r.value ?? -1) - pct) < 1, `value ${r.value} ≈ ${pct}`);
      assert.equal(r.threshold, 'warn 0%, crit 0%');

      rig.checks.set('disk-free', { warn: '100%' });
      r = only(await rig.checks.run('disk-free'), rig.dir);
      assert.equal(r.state, 'warning');

      rig.checks.set('disk-free', { crit: '100' });
      r = only(await rig.checks.run('disk-free'), rig.dir);
      assert.equal(r.state, 'critical');
      assert.equal(r.threshold, 'warn 100%, crit 100%');
      assert.match(r.message, /free .* on the state directory/);
    });

    it('takes the thresholds of a path from its override, and the others from the check', async () => {
      const sub = path.join(rig.dir, 'view');
      mkdirSync(sub);
      rig.facts = {
        disks: [
          { path: rig.dir, what: 'the state directory', volume: null },
          { path: sub, what: 'view docs/lag', volume: 'docs' },
        ],
      };
      rig.checks.set('disk-free', { warn: '100', crit: '100' });
      const def = rig.checks.set('disk-free', { path: sub, warn: '0', crit: '0' });
      assert.deepEqual(def.paths, { [sub]: { warn: 0, crit: 0 } });
      assert.equal(def.crit, 100, 'the check-wide threshold stays');

      const results = await rig.checks.run('disk-free');
      assert.equal(only(results, rig.dir).state, 'critical');
      const view = only(results, sub);
      assert.equal(view.state, 'ok');
      assert.equal(view.volume, 'docs');
      assert.equal(view.threshold, 'warn 0%, crit 0%');

      // A later override of one threshold keeps the path's other one.
      rig.checks.set('disk-free', { path: sub, crit: '100' });
      assert.deepEqual(rig.checks.definitions()[0].paths[sub], { warn: 0, crit: 100 });
      assert.throws(() => rig.checks.set('disk-free', { path: 'relative', warn: '1' }), {
        code: 'E_CHECK_BAD_SETTING',
      });
      assert.throws(() => rig.checks.set('lag', { path: sub, warn: '1' }), { code: 'E_CHECK_BAD_SETTING' });
    });

    it('keeps since while the state holds, and moves it when the state changes', async () => {
      rig.facts = { disks: [{ path: rig.dir, what: 'the state directory', volume: null }] };
      rig.checks.set('disk-free', { warn: '100', crit: '100' });
      let r = only(await rig.checks.run('disk-free'), rig.dir);
      assert.equal(r.state, 'critical');
      assert.equal(r.since, T);

      rig.clock.t = T + 5 * MINUTE;
      r = only(await rig.checks.run('disk-free'), rig.dir);
      assert.equal(r.state, 'critical');
      assert.equal(r.since, T, 'still critical since the first run');
      assert.equal(r.ranAt, T + 5 * MINUTE);

      rig.clock.t = T + 10 * MINUTE;
      rig.checks.set('disk-free', { warn: '0', crit: '0' });
      r = only(await rig.checks.run('disk-free'), rig.dir);
      assert.equal(r.state, 'ok');
      assert.equal(r.since, T + 10 * MINUTE);
      assert.deepEqual(rig.checks.results(), [r], 'the stored result is the one returned');
    });

    it('calls a path it cannot read unknown', async () => {
      const gone = path.join(rig.dir, 'no-such-dir');
      rig.facts = { disks: [{ path: gone, what: 'volume docs', volume: 'docs' }] };
      const r = only(await rig.checks.run('disk-free'), gone);
      assert.equal(r.state, 'unknown');
      assert.equal(r.value, null);
      assert.match(r.message, /cannot read volume docs/);
    });
  });

  it('lag: a disconnected mirror is critical even in sync; lag past warn is a warning', async () => {
    const mirror = {
      lagSeconds: 0,
      lagChanges: 0,
      inSync: true,
      link: 'connected' as const,
      refusal: null,
    };
    rig.facts = {
      mirrors: [
        { ...mirror, volume: 'docs', mirror: 'beta', link: 'disconnected' },
        { ...mirror, volume: 'photos', mirror: 'beta', lagSeconds: 120, lagChanges: 7, inSync: false },
        { ...mirror, volume: 'mail', mirror: 'beta' },
        { ...mirror, volume: 'logs', mirror: 'beta', lagSeconds: 301, lagChanges: 1, inSync: false },
      ],
    };
    const results = await rig.checks.run('lag');
    const docs = only(results, 'docs → beta');
    assert.equal(docs.state, 'critical');
    assert.match(docs.message, /in sync, link disconnected/);
    assert.equal(docs.volume, 'docs');
    assert.equal(only(results, 'photos → beta').state, 'warning');
    assert.equal(only(results, 'mail → beta').state, 'ok');
    assert.equal(only(results, 'logs → beta').state, 'critical');
  });

  it('funnel: a view whose applies fail is critical; held past warn is a warning', async () => {
    const now = rig.clock.now();
    const view = {
      delayMs: HOUR,
      held: false,
      holdReason: null,
      heldSince: null,
      oldestWaitingAt: null,
      error: null,
    };
    rig.facts = {
      views: [
        {
          ...view,
          volume: 'docs',
          view: 'broken',
          error: { since: now - MINUTE, message: 'EACCES', stopped: false },
        },
        {
          ...view,
          volume: 'docs',
          view: 'held-long',
          held: true,
          holdReason: 'guard',
          heldSince: now - 5 * HOUR,
        },
        {
          ...view,
          volume: 'docs',
          view: 'held-short',
          held: true,
          holdReason: 'guard',
          heldSince: now - HOUR,
        },
        { ...view, volume: 'docs', view: 'moving', oldestWaitingAt: now - 30 * MINUTE },
      ],
    };
    const results = await rig.checks.run('funnel');
    const broken = only(results, 'docs/broken');
    assert.equal(broken.state, 'critical');
    assert.match(broken.message, /EACCES/);
    assert.equal(only(results, 'docs/held-long').state, 'warning');
    assert.equal(only(results, 'docs/held-short').state, 'ok');
    assert.equal(only(results, 'docs/moving').state, 'ok');
  });

  it('guard: a trip within the facts is critical', async () => {
    rig.facts = {
      guardTrips: [{ volume: 'docs', at: rig.clock.now() - 2 * MINUTE, message: '900 deletes', held: true }],
    };
    const r = only(await rig.checks.run('guard'), 'docs');
    assert.equal(r.state, 'critical');
    assert.match(r.message, /900 deletes \(2 min ago\)/);
  });

  describe('custom checks', () => {
    it('maps the exit code of a plugin to its state, its first line before | to the message', async () => {
      const cases = [
        [0, 'ok'],
        [1, 'warning'],
        [2, 'critical'],
        [3, 'unknown'],
        [7, 'unknown'],
      ] as const;
      for (const [code, state] of cases) {
        const name = `plug-${code}`;
        const script = rig.script(
          `${name}.sh`,
          `printf 'STATUS %s - fine | load=1\\nsecond line\\n' "$1"\nexit ${code}`,
        );
        rig.checks.add(name, { script, args: [`code${code}`] });
        const results = await rig.checks.run(name);
        assert.equal(results.length, 1);
        assert.equal(results[0].subject, 'node');
        assert.equal(results[0].state, state, `exit ${code}`);
        assert.equal(results[0].message, `STATUS code${code} - fine`);
      }
    });

    it('calls a plugin that runs past its time limit unknown, and kills what it started', async (t) => {
      const pidFile = path.join(rig.dir, 'sleep.pid');
      // The shell waits on a child: killing the shell alone would leave the child holding the pipe.
      const script = rig.script('slow.sh', `sleep 600 &\necho $! > '${pidFile}'\nwait $!`);
      rig.checks.add('slow', { script, timeoutMs: 300 });
      const run = rig.checks.run('slow');
      const timeout = new Promise<never>((_, reject) => {
        const timer = setTimeout(
          () => reject(new Error('the run waited for the plugin past its limit')),
          20_000,
        );
        t.after(() => clearTimeout(timer));
      });
      t.after(() => {
        // Should the limit not reach it, the sleeper is not left behind the test.
        try {
          process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
        } catch {
          // gone, as it should be
        }
      });
      const [r] = await Promise.race([run, timeout]);
      assert.equal(r.state, 'unknown');
      assert.match(r.message, /ran longer than 0\.3 s and was stopped/);
      const sleeper = Number(readFileSync(pidFile, 'utf8'));
      await waitFor('the plugin’s child is gone', () => !isRunning(sleeper));
    });

    it('calls a plugin that cannot be started unknown', async () => {
      rig.checks.add('missing', { script: path.join(rig.dir, 'no-such-plugin') });
      const [r] = await rig.checks.run('missing');
      assert.equal(r.state, 'unknown');
      assert.match(r.message, /cannot run .*no-such-plugin/);
    });

    it('refuses a duplicate name, a relative script path and a bad name', () => {
      const script = rig.script('ok.sh', 'exit 0');
      rig.checks.add('mine', { script });
      assert.throws(() => rig.checks.add('mine', { script }), { code: 'E_CHECK_EXISTS' });
      assert.throws(() => rig.checks.add('disk-free', { script }), { code: 'E_CHECK_EXISTS' });
      assert.throws(() => rig.checks.add('other', { script: 'ok.sh' }), { code: 'E_CHECK_BAD_SETTING' });
      for (const bad of ['Upper', 'with space', '-dash', '', 'x'.repeat(41), '../up']) {
        assert.throws(() => rig.checks.add(bad, { script }), { code: 'E_CHECK_BAD_NAME' }, bad);
      }
      assert.throws(() => rig.checks.add('fast', { script, everyMs: 1000 }), { code: 'E_CHECK_BAD_SETTING' });
      assert.throws(() => rig.checks.set('mine', { warn: '5' }), { code: 'E_CHECK_BAD_SETTING' });
      assert.deepEqual(
        rig.checks
          .definitions()
          .filter((d) => d.kind === 'script')
          .map((d) => d.name),
        ['mine'],
      );
    });

    it('closes the alarm of a custom check when it is removed', async () => {
      const script = rig.script('crit.sh', 'echo "CRITICAL - queue stuck"\nexit 2');
      rig.checks.add('queue', { script });
      await rig.checks.run('queue');
      const [alarm] = rig.alarms.open();
      assert.equal(alarm.check, 'queue');
      assert.equal(alarm.state, 'critical');
      assert.equal(alarm.message, 'CRITICAL - queue stuck');

      rig.checks.remove('queue');
      assert.deepEqual(rig.alarms.open(), []);
      assert.deepEqual(
        rig.notices.map((n) => (n.kind === 'alarm' ? `${n.change} ${n.alarm.check}` : n.kind)),
        ['opened queue', 'resolved queue'],
      );
      assert.equal(
        rig.checks.results().some((r) => r.check === 'queue'),
        false,
      );
      await assert.rejects(rig.checks.run('queue'), { code: 'E_CHECK_UNKNOWN' });
    });
  });

  it('hands every run to the alarms: a subject leaving ok opens one', async () => {
    rig.facts = { disks: [{ path: rig.dir, what: 'the state directory', volume: null }] };
    rig.checks.set('disk-free', { warn: '100', crit: '100' });
    await rig.checks.run('disk-free');
    await rig.checks.run('disk-free');
    const open = rig.alarms.open();
    assert.equal(open.length, 1);
    assert.equal(open[0].subject, rig.dir);
    rig.checks.remove('disk-free'); // a built-in check goes back to its defaults
    assert.deepEqual([rig.checks.definitions()[0].warn, rig.checks.definitions()[0].crit], [15, 5]);
    rig.checks.set('disk-free', { warn: '0', crit: '0' });
    await rig.checks.run('disk-free');
    assert.deepEqual(rig.alarms.open(), []);
  });
});
