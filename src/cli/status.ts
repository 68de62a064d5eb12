import type { CaptureStatus, StatusReport, ViewStatus } from '../api/index.ts';
import { formatDuration, formatMoment } from '../core/index.ts';
import { clientFor, parseCommand, printJson, stateDirOf } from './args.ts';

const USAGE = 'hindsight status [--state DIR] [--json]';

/** status shows every volume of this node: role, positions, lag, link; and the peer links. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, {}, USAGE);
  if (values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const status = await clientFor(stateDirOf(values)).status();
  if (values.json) printJson(status);
  else process.stdout.write(formatStatus(status));
  return 0;
}

/** formatStatus renders a status report for people. */
export function formatStatus(s: StatusReport): string {
  const out: string[] = [`node ${s.node}  (peer link ${s.peerAddress})`];
  if (s.volumes.length === 0) out.push('  no volumes yet: add one with hindsight volume add');
  for (const v of s.volumes) {
    const state = v.state === 'stopped' ? `STOPPED: ${v.reason ?? ''}` : 'active';
    out.push(`volume ${v.name}  ${v.role}  ${v.path}  epoch ${v.epoch}  ${state}`);
    if (v.since && v.since.epoch > 1) {
      out.push(
        `  epoch ${v.since.epoch} since ${formatMoment(v.since.at)} on ${v.since.node}: ${v.since.reason}`,
      );
    }
    const f = v.failover;
    if (f?.mode === 'auto') {
      const detail =
        f.leaseMs !== undefined
          ? `lease ${f.leaseMs > 0 ? `holds ${formatDuration(f.leaseMs)}` : 'NOT HELD'}`
          : f.primarySilentMs !== undefined
            ? `primary last heard ${formatDuration(f.primarySilentMs)} ago`
            : 'primary not heard yet';
      out.push(`  failover auto, witness ${f.witness ?? 'NONE (alerts only)'}, ${detail}`);
    }
    if (v.role === 'primary') {
      out.push(`  captured up to seq ${v.lastSeq}${v.capture ? `, ${formatCapture(v.capture)}` : ''}`);
      for (const m of v.mirrors ?? []) {
        const lag = m.inSync
          ? 'in sync'
          : m.lagChanges === 0
            ? `not known to be in sync (capture ${v.capture?.state ?? 'not running'}), ${m.lagSeconds.toFixed(1)} s`
            : `behind by ${m.lagChanges} changes, ${m.lagSeconds.toFixed(1)} s`;
        const refused = m.refusal ? `  (refused: ${m.refusal})` : '';
        out.push(
          `  → ${m.node}: ${m.link}, acked seq ${m.ackedSeq}, ${lag}, ${formatBytes(m.bytesSent)} sent${refused}`,
        );
      }
    } else {
      const lag =
        v.lagChanges === null || v.lagChanges === undefined
          ? ''
          : v.lagChanges === 0
            ? ', in sync'
            : `, behind by ${v.lagChanges} changes`;
      out.push(
        `  ← ${v.from}: ${v.link}, received seq ${v.receivedSeq}, applied seq ${v.appliedSeq}${lag}, ${formatBytes(v.bytesReceived ?? 0)} received`,
      );
      for (const view of v.views ?? []) out.push(...formatView(view, s.now));
      if (v.historyMs !== undefined) {
        const oldest = v.oldestAt ? `, oldest moment kept ${formatMoment(v.oldestAt)}` : '';
        out.push(`  history ${formatDuration(v.historyMs)}${oldest}`);
      }
    }
  }
  for (const t of s.backups?.tiers ?? []) {
    const error = t.lastError ? `, last error: ${t.lastError}` : '';
    out.push(`tier ${t.name}  ${t.state.toUpperCase()}  ${t.url}  revision ${t.revision}${error}`);
  }
  for (const b of s.backups?.volumes ?? []) {
    const last = b.lastBackup
      ? `last backup ${formatMoment(b.lastBackup.takenAt)} (as of ${formatMoment(b.lastBackup.at)}) on ${b.lastBackup.tiers.join(', ')}`
      : 'no backup yet';
    const drill = b.lastDrill
      ? `, last drill ${formatMoment(b.lastDrill.at)}: ${b.lastDrill.problems === 0 ? 'ok' : `${b.lastDrill.problems} PROBLEMS`}, restored in ${(b.lastDrill.ms / 1000).toFixed(1)} s`
      : '';
    out.push(`backups of ${b.volume}: ${last}${drill}`);
  }
  for (const p of s.peers) {
    const rtt =
      p.rttMs === null
        ? ''
        : `  rtt ${p.rttMs.toFixed(2)} ms, clock offset ${p.clockOffsetMs?.toFixed(1)} ms`;
    out.push(`peer ${p.node} (${p.direction}): ${p.link}${rtt}`);
  }
  if (s.readiness) {
    const parts = s.readiness.components.map((c) => `${c.name} ${c.score}`).join(', ');
    out.push(`readiness ${s.readiness.score}/100 (${parts})`);
  }
  for (const a of s.alarms ?? []) {
    out.push(
      `ALARM #${a.id} ${a.state.toUpperCase()} ${a.check} ${a.subject}: ${a.message} (since ${formatMoment(a.openedAt)})`,
    );
  }
  return `${out.join('\n')}\n`;
}

/** formatCapture says how complete capture is: "watching 120 directories", "RESCANNING (overflow), 40 paths pending". */
export function formatCapture(c: CaptureStatus): string {
  const pending = c.pendingPaths > 0 ? `, ${c.pendingPaths} paths pending` : '';
  const overflows =
    c.overflows > 0
      ? `, ${c.overflows} kernel queue overflow${c.overflows === 1 ? '' : 's'} since start`
      : '';
  const head =
    c.state === 'watching'
      ? `watching ${c.watchedDirs} directories`
      : c.state === 'scanning'
        ? `RESCANNING (${c.why})`
        : c.state === 'polling'
          ? `NOT WATCHING (${c.why}): scanning every few seconds`
          : 'capture stopped';
  return `${head}${pending}${overflows}`;
}

/** formatView renders one view of a mirrored volume and its funnel. */
function formatView(view: ViewStatus, now: number): string[] {
  const shows =
    view.appliedAt === null ? 'empty' : `shows ${formatMoment(view.appliedAt)} (seq ${view.appliedSeq})`;
  const held = view.held
    ? `  HELD (${view.holdReason})${view.heldSince ? ` since ${formatMoment(view.heldSince)}` : ''}`
    : '';
  const f = view.funnel;
  const due =
    f.nextDueAt === null
      ? ''
      : `, next due ${f.nextDueAt <= now ? 'now' : `in ${formatDuration(f.nextDueAt - now)}`}`;
  const oldest = f.oldestReceivedAt === null ? '' : `, oldest received ${formatMoment(f.oldestReceivedAt)}`;
  const error = view.error
    ? [
        `    NOT MOVING since ${formatMoment(view.error.since)}${view.error.stopped ? ' (stopped until the agent restarts)' : ''}: ${view.error.message}`,
      ]
    : [];
  return [
    `  view ${view.name}  ${view.root}  delay ${formatDuration(view.delayMs)}  ${shows}${held}`,
    ...error,
    `    funnel: ${f.changes} changes, ${formatBytes(f.bytes)}${oldest}${due}`,
  ];
}

/** formatBytes renders a byte count with a binary unit. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
