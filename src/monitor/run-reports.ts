import type { HEvent } from '../core/index.ts';
import type { EventLog } from './event-log.ts';
import type { NoticeSink, RunKind, RunReport } from './monitor-types.ts';

/** DEFAULT_PROTOCOL_WINDOW_MS is how far back a run's protocol reaches when its start is not known. */
export const DEFAULT_PROTOCOL_WINDOW_MS = 10 * 60_000;
/** MAX_PROTOCOL_EVENTS bounds a protocol: the newest events of a very long run are kept. */
export const MAX_PROTOCOL_EVENTS = 500;

/** ProtocolSource returns the events of `volume` (all events when null) from `sinceMs` on, oldest first. */
export type ProtocolSource = (volume: string | null, sinceMs: number) => HEvent[];

interface RunOutcome {
  run: RunKind;
  ok: boolean;
  title: string;
  /** Where the protocol starts at the latest. */
  sinceMs: number;
  /** The event that opened the run, if the run has one: the protocol starts at the last one. */
  startType?: HEvent['type'];
}

/**
 * runReportOf turns an event that ends a run into its report, or returns null for any other
 * event. The run-ending events: backup.finished and backup.failed (backup), backup.drill
 * (drill, failed when it found problems), tier.caught-up (catch-up), role.promoted
 * (switchover when its reason says so, otherwise failover: automatic or by hand),
 * role.switchover-failed and failover.failed. The protocol is the volume's events from the
 * run's start (the backup's takenAt and its backup.started, the drill's duration) or the last
 * DEFAULT_PROTOCOL_WINDOW_MS, up to and with the ending event.
 */
export function runReportOf(event: HEvent, node: string, protocol: ProtocolSource): RunReport | null {
  const outcome = outcomeOf(event);
  if (outcome === null) return null;
  const volume = event.volume ?? null;
  let events = protocol(volume, outcome.sinceMs).filter(
    (e) => e.id <= event.id && !e.type.startsWith('notice.'),
  );
  if (outcome.startType !== undefined) {
    const start = events.findLastIndex((e) => e.type === outcome.startType && (e.volume ?? null) === volume);
    if (start >= 0) events = events.slice(start);
  }
  if (events.at(-1)?.id !== event.id) events.push(event);
  return {
    run: outcome.run,
    node,
    volume,
    ok: outcome.ok,
    title: outcome.title,
    at: event.t,
    protocol: events.slice(-MAX_PROTOCOL_EVENTS),
  };
}

function outcomeOf(e: HEvent): RunOutcome | null {
  const data = e.data ?? {};
  const volume = e.volume ?? 'the repository';
  const window = e.t - DEFAULT_PROTOCOL_WINDOW_MS;
  switch (e.type) {
    case 'backup.finished': {
      const takenAt = typeof data.takenAt === 'number' ? data.takenAt : window;
      const files = typeof data.files === 'number' ? `${data.files.toLocaleString('en-US')} files, ` : '';
      const newBytes = typeof data.newBytes === 'number' ? `${formatBytes(data.newBytes)} new` : '';
      const tiers = Array.isArray(data.tiers) ? ` on ${data.tiers.join(', ')}` : '';
      return {
        run: 'backup',
        ok: true,
        title: `backup of ${volume} finished${tiers}: ${files}${newBytes}`.replace(/: $/, ''),
        sinceMs: Math.min(takenAt, e.t),
        startType: 'backup.started',
      };
    }
    case 'backup.failed':
      return {
        run: 'backup',
        ok: false,
        title: `backup of ${volume} failed: ${e.msg}`,
        sinceMs: window,
        startType: 'backup.started',
      };
    case 'backup.drill': {
      const ok = data.isOk !== false;
      const ms = typeof data.ms === 'number' ? data.ms : DEFAULT_PROTOCOL_WINDOW_MS;
      return { run: 'drill', ok, title: ok ? e.msg : `FAILED ${e.msg}`, sinceMs: e.t - ms - 1000 };
    }
    case 'tier.caught-up':
      return { run: 'catch-up', ok: true, title: e.msg, sinceMs: window };
    case 'role.promoted': {
      const reason = typeof data.reason === 'string' ? data.reason : 'promote';
      const run = reason.startsWith('switchover') ? 'switchover' : 'failover';
      return {
        run,
        ok: true,
        title: `${volume}: ${node(data)} is now the primary (${reason})`,
        sinceMs: window,
      };
    }
    case 'role.switchover-failed':
      return {
        run: 'switchover',
        ok: false,
        title: `switchover of ${volume} to ${e.peer ?? 'the mirror'} failed: ${String(data.error ?? e.msg)}`,
        sinceMs: window,
      };
    case 'failover.failed':
      return {
        run: 'failover',
        ok: false,
        title: `automatic failover of ${volume} failed: ${String(data.error ?? e.msg)}`,
        sinceMs: window,
      };
    default:
      return null;
  }
}

function node(data: Record<string, unknown>): string {
  return typeof data.primary === 'string' ? data.primary : 'this node';
}

function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/**
 * protocolFrom reads protocols from the event log: the events of the volume and those of no
 * volume (tiers, links), from `sinceMs` until now, the newest MAX_PROTOCOL_EVENTS of them.
 */
export function protocolFrom(log: EventLog, now: () => number): ProtocolSource {
  return (volume, sinceMs) => {
    const until = now();
    const kept: HEvent[] = [];
    let after = 0;
    for (;;) {
      const page = log.between(sinceMs, until, after, 1000);
      for (const e of page) {
        if (volume === null || e.volume === undefined || e.volume === volume) kept.push(e);
      }
      if (kept.length > 2 * MAX_PROTOCOL_EVENTS) kept.splice(0, kept.length - MAX_PROTOCOL_EVENTS);
      if (page.length < 1000) break;
      after = page[page.length - 1].id;
    }
    return kept.slice(-MAX_PROTOCOL_EVENTS);
  };
}

/**
 * reportRuns turns every run-ending event of `log` into a run notice for `sink` (the daemon
 * wires it to Notices). Returns the function that stops it.
 */
export function reportRuns(deps: {
  log: EventLog;
  sink: NoticeSink;
  node: string;
  now: () => number;
}): () => void {
  const protocol = protocolFrom(deps.log, deps.now);
  return deps.log.subscribe((event) => {
    const report = runReportOf(event, deps.node, protocol);
    if (report !== null) deps.sink.notify({ kind: 'run', report });
  });
}
