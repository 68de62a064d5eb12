import { spawn } from 'node:child_process';
import { type Clock, type EventSink, type HEvent, HindsightError } from '../core/index.ts';
import { type Catalog, deleteMeta, readMeta, writeMeta } from '../store/index.ts';
import type { Logger } from '../sys/index.ts';
import {
  type AlarmChange,
  type AlarmInfo,
  type AlarmState,
  type CheckResult,
  type NoticeSink,
  worseState,
} from './monitor-types.ts';

/** DEFAULT_REMINDER_MS is how long an open, unacknowledged alarm waits before it is sent again. */
export const DEFAULT_REMINDER_MS = 4 * 60 * 60 * 1000;
/** How long the on-alarm hook may run before it is stopped. */
const DEFAULT_HOOK_TIMEOUT_MS = 30_000;

const REMINDER_KEY = 'alarm_reminder_ms';
const HOOK_KEY = 'alarm_hook';

/** AlarmsDeps: where alarms are kept, who is told, and how the protocol of an alarm is read. */
export interface AlarmsDeps {
  catalog: Catalog;
  clock: Clock;
  events: EventSink;
  log: Logger;
  node: string;
  notices: NoticeSink;
  /** The events of the last hour about a volume (or the node), attached to the alarm's notice. */
  protocol: (volume: string | null) => HEvent[];
  /** How long the on-alarm hook may run (30 s; tests shorten it). */
  hookTimeoutMs?: number;
}

interface AlarmRow {
  id: number;
  name: string;
  subject: string;
  volume: string | null;
  state: AlarmState;
  message: string;
  opened_at: number;
  updated_at: number;
  reminded_at: number;
  closed_at: number | null;
  acked_at: number | null;
  acked_by: string | null;
}

/**
 * Alarms turn check results into alarms, and alarms into notices: a subject that leaves `ok`
 * opens one alarm; while it stays out of `ok` the alarm is updated, not repeated — a turn for
 * the worse is told, and an unacknowledged alarm is told again after the reminder interval; a
 * return to `ok` closes it and says so. Opening or worsening to critical runs the on-alarm
 * hook (a siren, a speaker, an SMS gateway). The `alarms` table is this class's alone.
 */
export class Alarms {
  readonly #deps: AlarmsDeps;

  constructor(deps: AlarmsDeps) {
    this.#deps = deps;
  }

  /**
   * observe takes one run of check `check`: every subject it measured. Alarms of the check
   * whose subject was not measured any more (a tier removed, a volume gone) are closed.
   */
  observe(check: string, results: readonly CheckResult[]): void {
    const { catalog, clock } = this.#deps;
    const now = clock.now();
    const open = new Map(this.#openRows(check).map((r) => [r.subject, r]));
    for (const r of results) {
      const row = open.get(r.subject);
      open.delete(r.subject);
      if (r.state === 'ok') {
        if (row) this.#close(row, r.message);
        continue;
      }
      if (!row) {
        const res = catalog
          .prepare(
            `INSERT INTO alarms (name, subject, volume, state, message, opened_at, updated_at, reminded_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(check, r.subject, r.volume, r.state, r.message, now, now, now);
        this.#tell('opened', this.#get(Number(res.lastInsertRowid))!);
        continue;
      }
      const isWorse = r.state !== row.state && worseState(r.state, row.state) === r.state;
      if (r.state !== row.state || r.message !== row.message) {
        catalog
          .prepare('UPDATE alarms SET state = ?, message = ?, updated_at = ? WHERE id = ?')
          .run(r.state, r.message, now, row.id);
      }
      if (isWorse) this.#tell('worse', this.#get(row.id)!);
    }
    for (const row of open.values()) this.#close(row, 'no longer measured');
  }

  /** remind tells again of every open, unacknowledged alarm older than the reminder interval. */
  remind(): void {
    const now = this.#deps.clock.now();
    const due = this.#deps.catalog
      .prepare('SELECT * FROM alarms WHERE closed_at IS NULL AND acked_at IS NULL AND reminded_at <= ?')
      .all(now - this.reminderMs()) as unknown as AlarmRow[];
    for (const row of due) {
      this.#deps.catalog.prepare('UPDATE alarms SET reminded_at = ? WHERE id = ?').run(now, row.id);
      this.#tell('reminder', toInfo(row, this.#deps.node));
    }
  }

  /** ack acknowledges an open alarm: it gets no more reminders. */
  ack(id: number, by: string | null): AlarmInfo {
    const row = this.#get(id);
    if (!row)
      throw new HindsightError('E_ALARM_UNKNOWN', `no alarm ${id}`, {
        hint: 'see the open ones with hindsight alarms',
      });
    if (row.closedAt !== null) {
      throw new HindsightError('E_ALARM_CLOSED', `alarm ${id} is closed already`, {
        hint: 'nothing to acknowledge',
      });
    }
    const now = this.#deps.clock.now();
    this.#deps.catalog.prepare('UPDATE alarms SET acked_at = ?, acked_by = ? WHERE id = ?').run(now, by, id);
    const info = this.#get(id)!;
    this.#deps.events.emit({
      level: 'info',
      type: 'alarm.acked',
      ...(info.volume ? { volume: info.volume } : {}),
      msg: 'alarm acknowledged',
      data: { id, check: info.check, subject: info.subject, by },
    });
    return info;
  }

  /** open lists the open alarms, newest first. */
  open(): AlarmInfo[] {
    const rows = this.#deps.catalog
      .prepare('SELECT * FROM alarms WHERE closed_at IS NULL ORDER BY id DESC')
      .all() as unknown as AlarmRow[];
    return rows.map((r) => toInfo(r, this.#deps.node));
  }

  /** recent lists open alarms and those closed within `ms`, newest first. */
  recent(ms: number): AlarmInfo[] {
    const rows = this.#deps.catalog
      .prepare('SELECT * FROM alarms WHERE closed_at IS NULL OR closed_at >= ? ORDER BY id DESC LIMIT 500')
      .all(this.#deps.clock.now() - ms) as unknown as AlarmRow[];
    return rows.map((r) => toInfo(r, this.#deps.node));
  }

  /** reminderMs is the reminder interval (DEFAULT_REMINDER_MS unless set). */
  reminderMs(): number {
    return Number(readMeta(this.#deps.catalog, REMINDER_KEY) ?? DEFAULT_REMINDER_MS);
  }

  /** configure sets the reminder interval and the on-alarm hook (an absolute path; '' removes it). */
  configure(settings: { reminderMs?: number; hook?: string }): { reminderMs: number; hook: string | null } {
    if (settings.reminderMs !== undefined) {
      if (!Number.isFinite(settings.reminderMs) || settings.reminderMs < 60_000) {
        throw new HindsightError('E_ALARM_BAD_SETTING', 'the reminder interval must be at least a minute', {
          hint: 'give it as 30m, 4h or 1d',
        });
      }
      writeMeta(this.#deps.catalog, REMINDER_KEY, String(Math.round(settings.reminderMs)));
    }
    if (settings.hook !== undefined) {
      if (settings.hook === '') deleteMeta(this.#deps.catalog, HOOK_KEY);
      else if (!settings.hook.startsWith('/')) {
        throw new HindsightError(
          'E_ALARM_BAD_SETTING',
          `the on-alarm hook must be an absolute path: ${settings.hook}`,
          {
            hint: 'give the full path of an executable',
          },
        );
      } else writeMeta(this.#deps.catalog, HOOK_KEY, settings.hook);
    }
    return { reminderMs: this.reminderMs(), hook: readMeta(this.#deps.catalog, HOOK_KEY) ?? null };
  }

  #close(row: AlarmRow, message: string): void {
    const now = this.#deps.clock.now();
    this.#deps.catalog
      .prepare('UPDATE alarms SET closed_at = ?, updated_at = ?, message = ? WHERE id = ?')
      .run(now, now, message, row.id);
    this.#tell('resolved', this.#get(row.id)!);
  }

  #tell(change: AlarmChange, alarm: AlarmInfo): void {
    const type =
      change === 'opened' ? 'alarm.opened' : change === 'resolved' ? 'alarm.closed' : 'alarm.changed';
    if (change !== 'reminder') {
      this.#deps.events.emit({
        level: change === 'resolved' ? 'info' : alarm.state === 'critical' ? 'error' : 'warn',
        type,
        ...(alarm.volume ? { volume: alarm.volume } : {}),
        msg: `${change === 'resolved' ? 'resolved' : alarm.state}: ${alarm.check} ${alarm.subject}`,
        data: {
          id: alarm.id,
          check: alarm.check,
          subject: alarm.subject,
          state: alarm.state,
          message: alarm.message,
          change,
        },
      });
    }
    try {
      this.#deps.notices.notify({
        kind: 'alarm',
        change,
        alarm,
        protocol: this.#deps.protocol(alarm.volume),
      });
    } catch (err) {
      this.#deps.log.error('notice of an alarm failed', { err, id: alarm.id });
    }
    if ((change === 'opened' || change === 'worse') && alarm.state === 'critical')
      this.#runHook(change, alarm);
  }

  /** #runHook runs the on-alarm hook in the background; its outcome is an event. */
  #runHook(change: AlarmChange, alarm: AlarmInfo): void {
    const hook = readMeta(this.#deps.catalog, HOOK_KEY);
    if (!hook) return;
    const env = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      HINDSIGHT_NODE: this.#deps.node,
      HINDSIGHT_ALARM_ID: String(alarm.id),
      HINDSIGHT_ALARM_CHANGE: change,
      HINDSIGHT_ALARM_STATE: alarm.state,
      HINDSIGHT_ALARM_CHECK: alarm.check,
      HINDSIGHT_ALARM_SUBJECT: alarm.subject,
      HINDSIGHT_ALARM_MESSAGE: alarm.message,
      HINDSIGHT_VOLUME: alarm.volume ?? '',
    };
    let output = '';
    // Its own process group, so that the time limit stops what the hook started too (a siren
    // player, a `sleep`): killed alone, a shell script leaves them holding its output pipe, and
    // the hook's outcome would never be reported.
    const child = spawn(hook, [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const take = (b: Buffer) => {
      if (output.length < 4096) output += b.toString('utf8');
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL'); // no group (gone already): the hook itself
      }
    }, this.#deps.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS);
    const report = (ok: boolean, why: string) => {
      clearTimeout(timer);
      this.#deps.events.emit({
        level: ok ? 'info' : 'error',
        type: ok ? 'hook.finished' : 'hook.failed',
        ...(alarm.volume ? { volume: alarm.volume } : {}),
        msg: ok ? 'hook on-alarm finished' : 'hook on-alarm failed',
        data: { hook: 'on-alarm', path: hook, alarm: alarm.id, outcome: why, output: output.slice(0, 4096) },
      });
    };
    child.on('error', (err) => report(false, err.message));
    child.on('close', (code, signal) =>
      report(code === 0, code === null ? `killed by ${signal}` : `exit ${code}`),
    );
  }

  #openRows(check: string): AlarmRow[] {
    return this.#deps.catalog
      .prepare('SELECT * FROM alarms WHERE name = ? AND closed_at IS NULL')
      .all(check) as unknown as AlarmRow[];
  }

  #get(id: number): AlarmInfo | undefined {
    const row = this.#deps.catalog.prepare('SELECT * FROM alarms WHERE id = ?').get(id) as unknown as
      | AlarmRow
      | undefined;
    return row ? toInfo(row, this.#deps.node) : undefined;
  }
}

function toInfo(r: AlarmRow, node: string): AlarmInfo {
  return {
    id: r.id,
    node,
    check: r.name,
    subject: r.subject,
    state: r.state,
    message: r.message,
    openedAt: r.opened_at,
    updatedAt: r.updated_at,
    closedAt: r.closed_at,
    ackedAt: r.acked_at,
    ackedBy: r.acked_by,
    volume: r.volume,
  };
}
