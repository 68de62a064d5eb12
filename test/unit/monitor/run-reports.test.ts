import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HEvent } from '../../../src/core/index.ts';
import { runReportOf } from '../../../src/monitor/index.ts';

const T = 1_800_000_000_000;
let nextId = 1;
const ev = (type: HEvent['type'], over: Partial<HEvent> = {}): HEvent => ({
  id: nextId++,
  t: T,
  level: 'info',
  type,
  msg: type,
  ...over,
});

describe('runReportOf', () => {
  it('maps each run-ending event to its run, outcome and title, and nothing else', () => {
    const none = () => [];
    const cases: [HEvent, string, boolean, string][] = [
      [
        ev('backup.finished', {
          volume: 'docs',
          data: { files: 1203, newBytes: 3_200_000, tiers: ['local', 'nas'] },
        }),
        'backup',
        true,
        'backup of docs finished on local, nas: 1,203 files, 3.2 MB new',
      ],
      [
        ev('backup.failed', { volume: 'docs', msg: 'tier nas: disk full' }),
        'backup',
        false,
        'backup of docs failed: tier nas: disk full',
      ],
      [
        ev('backup.drill', {
          volume: 'docs',
          msg: 'restore drill of docs: 3 files in 1.0 s from local',
          data: { isOk: true, ms: 1000 },
        }),
        'drill',
        true,
        'restore drill of docs: 3 files in 1.0 s from local',
      ],
      [
        ev('backup.drill', {
          volume: 'docs',
          msg: 'restore drill of docs found 2 problems',
          data: { isOk: false, ms: 1000 },
        }),
        'drill',
        false,
        'FAILED restore drill of docs found 2 problems',
      ],
      [
        ev('tier.caught-up', { msg: 'tier nas caught up from local: 4 objects' }),
        'catch-up',
        true,
        'tier nas caught up from local: 4 objects',
      ],
      [
        ev('role.promoted', { volume: 'docs', data: { primary: 'beta', reason: 'switchover from alpha' } }),
        'switchover',
        true,
        'docs: beta is now the primary (switchover from alpha)',
      ],
      [
        ev('role.promoted', {
          volume: 'docs',
          data: { primary: 'beta', reason: 'failover: alpha silent for 30 s; the witness w agreed' },
        }),
        'failover',
        true,
        'docs: beta is now the primary (failover: alpha silent for 30 s; the witness w agreed)',
      ],
      [
        ev('role.switchover-failed', { volume: 'docs', peer: 'beta', data: { error: 'drain timed out' } }),
        'switchover',
        false,
        'switchover of docs to beta failed: drain timed out',
      ],
      [
        ev('failover.failed', { volume: 'docs', data: { error: 'E_PROMOTE_GUARD' } }),
        'failover',
        false,
        'automatic failover of docs failed: E_PROMOTE_GUARD',
      ],
    ];
    for (const [event, run, ok, title] of cases) {
      const report = runReportOf(event, 'alpha', none);
      assert.deepEqual(
        report && { run: report.run, ok: report.ok, title: report.title, at: report.at, node: report.node },
        { run, ok, title, at: T, node: 'alpha' },
        event.type,
      );
      assert.deepEqual(
        report?.protocol.map((e) => e.id),
        [event.id],
        'the ending event is always in the protocol',
      );
    }
    for (const type of ['backup.started', 'notice.failed', 'tier.offline', 'link.connected'] as const) {
      assert.equal(runReportOf(ev(type), 'alpha', none), null, type);
    }
  });

  it('asks for the protocol from the run start and cuts it at the last start of that volume', () => {
    const started = ev('backup.started', { volume: 'docs', t: T - 5_000 });
    const older = ev('backup.started', { volume: 'docs', t: T - 9_000 });
    const noise = ev('notice.sent', { t: T - 1_000 });
    const end = ev('backup.finished', { volume: 'docs', data: { takenAt: T - 5_000 } });
    const later = ev('capture.scan-started', { volume: 'docs', t: T + 1 });
    const asked: [string | null, number][] = [];
    const report = runReportOf(end, 'alpha', (volume, since) => {
      asked.push([volume, since]);
      return [older, started, noise, end, later].sort((a, b) => a.id - b.id);
    });
    assert.deepEqual(asked, [['docs', T - 5_000]]);
    assert.deepEqual(
      report?.protocol.map((e) => e.type),
      ['backup.started', 'backup.finished'],
      'from the last start, without notices and without what came after the end',
    );
  });
});
