import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { StatusReport } from '../api/index.ts';
import type { BackupPlans } from '../backup/index.ts';
import {
  Alarms,
  type CheckFacts,
  Checks,
  DEFAULT_EVENT_RETENTION,
  Notices,
  protocolFrom,
  reportRuns,
} from '../monitor/index.ts';
import { type Scheduler, scheduleEvery } from '../sys/index.ts';
import type { NodeBase } from './stages.ts';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
/** How long after the agent starts the first run of every check comes (links connect first). */
const FIRST_CHECKS_AFTER_MS = 15_000;

/** Monitor is the monitor stage of a node: checks, alarms, notices, and how they start and stop. */
export interface Monitor {
  checks: Checks;
  alarms: Alarms;
  notices: Notices;
  start(): void;
  stop(): Promise<void>;
}

/**
 * buildMonitor wires checks, alarms and notices: check runs go to the alarms, alarm changes and
 * run reports (from the event log) to the notices. `status` is the node's status report, bound
 * late (it is built from every stage); the checks read their facts from it.
 */
export function buildMonitor(
  base: NodeBase,
  deps: { scheduler: Scheduler; plans: BackupPlans; status: () => StatusReport },
): Monitor {
  const { catalog, clock, events, log, config } = base;
  const node = config.name;
  const notices = new Notices({
    catalog,
    clock,
    events,
    log: log.child('notices'),
    node,
    scheduler: deps.scheduler,
  });
  const protocol = protocolFrom(events, () => clock.now());
  const alarms = new Alarms({
    catalog,
    clock,
    events,
    log: log.child('alarms'),
    node,
    notices,
    protocol: (volume) => protocol(volume, clock.now() - HOUR),
  });
  const checks = new Checks({
    catalog,
    clock,
    log: log.child('checks'),
    scheduler: deps.scheduler,
    alarms,
    facts: () => factsOf(base, deps.status(), deps.plans),
  });
  let stopRuns = () => {};
  const stopFirst = new AbortController();
  return {
    checks,
    alarms,
    notices,
    start() {
      notices.start();
      checks.start();
      stopRuns = reportRuns({ log: events, sink: notices, node, now: () => clock.now() });
      deps.scheduler.add('events:retention', scheduleEvery(HOUR), () => {
        const deleted = events.prune(DEFAULT_EVENT_RETENTION);
        if (deleted > 0) {
          events.emit({ level: 'info', type: 'events.pruned', msg: 'old events deleted', data: { deleted } });
        }
      });
      clock
        .sleep(FIRST_CHECKS_AFTER_MS, stopFirst.signal)
        .then(() => checks.runAll())
        .catch(() => {}); // stopped before, or reported per check
    },
    async stop() {
      stopFirst.abort();
      stopRuns();
      await notices.stop();
    },
  };
}

/** factsOf gathers what the built-in checks look at from the node's status and state. */
export function factsOf(base: NodeBase, status: StatusReport, plans: BackupPlans): CheckFacts {
  const now = status.now;
  const primaries = status.volumes.filter((v) => v.role === 'primary');
  const mirrored = status.volumes.filter((v) => v.role === 'mirror');
  const disks: CheckFacts['disks'] = [{ path: base.paths.dir, what: 'the state directory', volume: null }];
  for (const v of primaries) disks.push({ path: v.path, what: `volume ${v.name}`, volume: v.name });
  for (const v of mirrored) {
    for (const view of v.views ?? [])
      disks.push({ path: view.root, what: `view ${v.name}/${view.name}`, volume: v.name });
  }
  for (const t of status.backups.tiers) {
    if (t.url.startsWith('file://'))
      disks.push({ path: fileURLToPath(t.url), what: `tier ${t.name}`, volume: null });
  }
  const guardTrips = new Map<string, CheckFacts['guardTrips'][number]>();
  for (const e of base.events.latestOfType('guard.tripped', now - HOUR)) {
    if (!e.volume || guardTrips.has(e.volume)) continue;
    const held = Array.isArray(e.data?.held) && e.data.held.length > 0;
    guardTrips.set(e.volume, { volume: e.volume, at: e.t, message: e.msg, held });
  }
  const failures = new Map<string, { at: number; message: string }>();
  for (const e of base.events.latestOfType('backup.failed', now - 7 * DAY)) {
    if (e.volume && !failures.has(e.volume)) {
      failures.set(e.volume, { at: e.t, message: String(e.data?.error ?? e.msg) });
    }
  }
  const planList = plans.list();
  const backedUp = new Set([
    ...status.backups.volumes.map((b) => b.volume),
    ...planList.filter((p) => p.schedule !== null).map((p) => p.volume),
    ...failures.keys(),
  ]);
  const last = new Map(status.backups.volumes.map((b) => [b.volume, b]));
  const drilled = new Set([
    ...status.backups.volumes.filter((b) => b.lastDrill !== null).map((b) => b.volume),
    ...planList.filter((p) => p.drill !== null).map((p) => p.volume),
  ]);
  return {
    node: status.node,
    now,
    disks,
    mirrors: primaries.flatMap((v) =>
      (v.mirrors ?? []).map((m) => ({
        volume: v.name,
        mirror: m.node,
        lagSeconds: m.lagSeconds,
        lagChanges: m.lagChanges,
        inSync: m.inSync,
        link: m.link,
        refusal: m.refusal,
      })),
    ),
    upstreams: [
      ...mirrored.map((v) => ({
        volume: v.name,
        primary: v.from ?? '?',
        connected: v.link === 'connected',
        stopped: v.state === 'stopped' ? (v.reason ?? 'stopped') : null,
      })),
      ...primaries
        .filter((v) => v.state === 'stopped')
        .map((v) => ({
          volume: v.name,
          primary: status.node,
          connected: true,
          stopped: v.reason ?? 'stopped',
        })),
    ],
    views: mirrored.flatMap((v) =>
      (v.views ?? []).map((view) => ({
        volume: v.name,
        view: view.name,
        delayMs: view.delayMs,
        held: view.held,
        holdReason: view.holdReason,
        heldSince: view.heldSince,
        oldestWaitingAt: view.funnel.oldestReceivedAt,
        error: view.error,
      })),
    ),
    guardTrips: [...guardTrips.values()],
    backups: [...backedUp].sort().map((volume) => ({
      volume,
      scheduled: planList.some((p) => p.volume === volume && p.schedule !== null),
      lastAt: last.get(volume)?.lastBackup?.takenAt ?? null,
      lastFailure: failures.get(volume) ?? null,
    })),
    tiers: status.backups.tiers.map((t) => ({ name: t.name, state: t.state, lastError: t.lastError })),
    drills: [...drilled].sort().map((volume) => ({
      volume,
      at: last.get(volume)?.lastDrill?.at ?? null,
      problems: last.get(volume)?.lastDrill?.problems ?? 0,
      planned: planList.some((p) => p.volume === volume && p.drill !== null),
    })),
    certificates: [
      { subject: `node ${status.node}`, notAfter: notAfterOf(base.identity.certPem) },
      { subject: 'cluster CA', notAfter: notAfterOf(base.identity.caCertPem) },
    ],
    witnesses: primaries
      .filter((v) => v.failover.mode === 'auto' && v.failover.witness && v.state === 'active')
      .map((v) => ({
        volume: v.name,
        witness: v.failover.witness!,
        silentMs: v.failover.witnessSilentMs ?? null,
      })),
  };
}

function notAfterOf(pem: string): number {
  return new Date(new X509Certificate(pem).validTo).getTime();
}
