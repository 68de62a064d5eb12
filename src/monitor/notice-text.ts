import { formatDuration, formatMoment, type HEvent } from '../core/index.ts';
import type { AlarmChange, AlarmInfo, Notice, RunReport } from './monitor-types.ts';
import type { NoticeMessage } from './notice-sender.ts';

/**
 * The words of notices: subjects, plain-text bodies, protocol.txt and the webhook payload.
 * People read these at three in the morning, so each says what happened, since when, and what
 * to do; docs/monitoring.md#notices shows examples.
 */

/** PROTOCOL_INLINE_LINES bounds the warnings and errors of a failed run quoted in the body. */
const PROTOCOL_INLINE_LINES = 10;

/** composeNotice writes the message for `notice` from node `node`. */
export function composeNotice(notice: Notice, node: string, attachProtocol: boolean): NoticeMessage {
  const protocol = notice.kind === 'alarm' ? notice.protocol : notice.report.protocol;
  const subject = `[hindsight ${node}] ${headline(notice)}`;
  const text =
    notice.kind === 'alarm' ? alarmText(notice.change, notice.alarm, node) : runText(notice.report);
  const quoted = quotedProtocol(protocol, notice.kind === 'run' && !notice.report.ok);
  const attached = attachProtocol && protocol.length > 0;
  const footer = attached
    ? `The protocol (${protocol.length} events) is attached as protocol.txt.`
    : protocol.length > 0
      ? `The protocol has ${protocol.length} events: hindsight events on ${node} shows them.`
      : '';
  return {
    kind: notice.kind,
    subject,
    text: [text, quoted, footer].filter((part) => part !== '').join('\n\n') + '\n',
    protocol: attached ? protocolText(protocol) : null,
    payload:
      notice.kind === 'alarm'
        ? { node, kind: 'alarm', subject, text, change: notice.change, alarm: notice.alarm, protocol }
        : { node, kind: 'run', subject, text, report: notice.report },
  };
}

/** headline is a notice's subject without the node prefix; it is also the digest's line. */
export function headline(notice: Notice): string {
  if (notice.kind === 'run') return notice.report.title;
  const { alarm, change } = notice;
  const what = `${alarm.check} ${alarm.subject}`;
  if (change === 'resolved') return `RESOLVED ${what}`;
  const state = alarm.state.toUpperCase();
  const prefix = change === 'reminder' ? `${state} (still)` : change === 'worse' ? `${state} (worse)` : state;
  return `${prefix} ${what}: ${alarm.message}`;
}

/** digestLine is one line of a digest: the local time of day and the headline. */
export function digestLine(notice: Notice, at: number): string {
  return `${formatMoment(at).slice(11, 16)}  ${headline(notice)}`;
}

/** composeDigest writes the daily digest of `lines` (oldest first), collected since `since`. */
export function composeDigest(
  node: string,
  lines: string[],
  since: number | null,
  now: number,
): NoticeMessage {
  const count = lines.length;
  const subject = `[hindsight ${node}] daily digest: ${count === 0 ? 'nothing happened' : `${count} ${count === 1 ? 'notice' : 'notices'}`}`;
  const span =
    since === null ? `until ${formatMoment(now)}` : `from ${formatMoment(since)} to ${formatMoment(now)}`;
  const body =
    count === 0
      ? `Nothing happened on ${node} ${span}: no alarm changed and no run ended.`
      : `What happened on ${node} ${span}:\n\n${lines.join('\n')}`;
  const text = `${body}\n\nhindsight status on ${node} shows the state now; hindsight events shows every event.\n`;
  return {
    kind: 'digest',
    subject,
    text,
    protocol: null,
    payload: { node, kind: 'digest', subject, text, lines },
  };
}

/** composeTest writes the message `notify test` sends. */
export function composeTest(node: string, name: string, now: number): NoticeMessage {
  const subject = `[hindsight ${node}] test notice for ${name}`;
  const text = `This is a test of notifier ${name} on ${node}, sent at ${formatMoment(now)}.\nIf you read this, notices reach you.\n`;
  return { kind: 'test', subject, text, protocol: null, payload: { node, kind: 'test', subject, text } };
}

/**
 * protocolText writes events one a line, oldest first: ISO time, level, type, volume (or -),
 * message, data as JSON.
 */
export function protocolText(events: HEvent[]): string {
  return events.map((e) => `${protocolLine(e)}\n`).join('');
}

function protocolLine(e: HEvent): string {
  const data = e.data === undefined ? '{}' : JSON.stringify(e.data);
  return `${new Date(e.t).toISOString()} ${e.level.padEnd(5)} ${e.type} ${e.volume ?? '-'} ${e.msg} ${data}`;
}

function alarmText(change: AlarmChange, alarm: AlarmInfo, node: string): string {
  const on = alarm.volume === null ? `${alarm.subject}` : `${alarm.subject} (volume ${alarm.volume})`;
  const lines: string[] = [];
  if (change === 'resolved') {
    const closed = alarm.closedAt ?? alarm.updatedAt;
    lines.push(`RESOLVED: ${alarm.check} on ${on} is ok again.`);
    lines.push(`It was ${alarm.state} for ${formatDuration(closed - alarm.openedAt)}: ${alarm.message}`);
  } else {
    const opening = { opened: 'is', worse: 'got worse; it is now', reminder: 'is still' }[change];
    lines.push(`${alarm.state.toUpperCase()}: ${alarm.check} on ${on} ${opening} ${alarm.state}.`);
    lines.push(alarm.message);
  }
  lines.push('');
  lines.push(`Node:   ${node}`);
  lines.push(`Since:  ${formatMoment(alarm.openedAt)}`);
  if (alarm.closedAt !== null) lines.push(`Closed: ${formatMoment(alarm.closedAt)}`);
  if (alarm.ackedAt !== null) {
    lines.push(`Acknowledged: ${formatMoment(alarm.ackedAt)}${alarm.ackedBy ? ` by ${alarm.ackedBy}` : ''}`);
  }
  lines.push(`Alarm:  #${alarm.id}`);
  lines.push('');
  lines.push(
    change === 'resolved'
      ? 'Nothing to do; hindsight events shows what happened meanwhile.'
      : `What to do: hindsight status on ${node} shows every check and what it measured; fix what the message names. Reminders follow until the alarm is acknowledged or resolved.`,
  );
  return lines.join('\n');
}

function runText(report: RunReport): string {
  const last = report.protocol.at(-1);
  const hint = typeof last?.data?.hint === 'string' ? last.data.hint : null;
  const lines = [
    report.title,
    '',
    `Node:    ${report.node}`,
    ...(report.volume === null ? [] : [`Volume:  ${report.volume}`]),
    `Run:     ${report.run}`,
    `Outcome: ${report.ok ? 'ok' : 'FAILED'}`,
    `At:      ${formatMoment(report.at)}`,
  ];
  if (report.protocol.length > 1) {
    lines.push(
      `Took:    ${formatDuration(report.at - report.protocol[0].t)} (from the first event of the protocol)`,
    );
  }
  lines.push('');
  lines.push(
    hint !== null
      ? `What to do: ${hint}`
      : report.ok
        ? 'Nothing to do.'
        : `What to do: ${WHAT_TO_DO[report.run]}`,
  );
  return lines.join('\n');
}

const WHAT_TO_DO: Record<RunReport['run'], string> = {
  backup:
    'read the errors below; hindsight tier list shows each tier and its last error. Run it again with hindsight backup run VOLUME once fixed.',
  drill:
    'a restore drill found files that do not match their backup: run hindsight backup verify --read-data 100% and keep the older backups until it is explained.',
  'catch-up': 'hindsight tier list shows the tiers that are behind and why.',
  switchover:
    'this node stays the primary and captures again; fix the error below and run the switchover again. An application stopped by pre-switch may need a restart.',
  failover:
    'the mirror did not take over: promote it by hand when it is safe (hindsight promote VOLUME on the mirror).',
};

function quotedProtocol(protocol: HEvent[], isFailure: boolean): string {
  if (!isFailure) return '';
  const trouble = protocol.filter((e) => e.level !== 'info').slice(-PROTOCOL_INLINE_LINES);
  if (trouble.length === 0) return '';
  return `Warnings and errors of the run:\n${trouble.map((e) => `  ${formatMoment(e.t)} ${e.level} ${e.msg}`).join('\n')}`;
}
