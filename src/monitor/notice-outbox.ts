import type { Catalog } from '../store/index.ts';
import type { NoticeMessage } from './notice-sender.ts';
import type { NoticePolicy, NotifierSettings } from './notifier-settings.ts';

/** NotifierRow is one row of `notifiers`. */
export interface NotifierRow {
  name: string;
  policy: NoticePolicy;
  settings: NotifierSettings;
  createdAt: number;
}

/** QueuedNotice is one notice of the outbox that is due. */
export interface QueuedNotice {
  id: number;
  notifier: string;
  createdAt: number;
  message: NoticeMessage;
  attempts: number;
}

/** NotifierStats is what `notify list` shows of a notifier's outbox. */
export interface NotifierStats {
  pending: number;
  failed: number;
  lastSentAt: number | null;
  lastError: string | null;
}

/**
 * NoticeOutbox alone spells the SQL of `notifiers`, `notices` and `digest_items`. A notice is a
 * row from the moment it is queued until it is sent (`sent_at`) or given up on (`failed_at`),
 * so a restart loses none: the delivery job picks up every row that is due. The message is kept
 * as composed, so a retry sends the same words.
 */
export class NoticeOutbox {
  readonly #db: Catalog;

  constructor(db: Catalog) {
    this.#db = db;
  }

  addNotifier(row: NotifierRow): void {
    this.#db
      .prepare('INSERT INTO notifiers (name, kind, policy, settings, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(row.name, row.settings.kind, row.policy, JSON.stringify(row.settings), row.createdAt);
  }

  notifier(name: string): NotifierRow | undefined {
    const row = this.#db.prepare('SELECT * FROM notifiers WHERE name = ?').get(name) as
      | RawNotifier
      | undefined;
    return row && toNotifier(row);
  }

  notifiers(): NotifierRow[] {
    return (this.#db.prepare('SELECT * FROM notifiers ORDER BY name').all() as unknown as RawNotifier[]).map(
      toNotifier,
    );
  }

  /** removeNotifier deletes the notifier, its outbox and its digest lines; false if there was none. */
  removeNotifier(name: string): boolean {
    this.#db.prepare('DELETE FROM notices WHERE notifier = ?').run(name);
    this.#db.prepare('DELETE FROM digest_items WHERE notifier = ?').run(name);
    return Number(this.#db.prepare('DELETE FROM notifiers WHERE name = ?').run(name).changes) > 0;
  }

  /** enqueue queues `message` for `notifier`, due at `now`; returns its id. */
  enqueue(notifier: string, message: NoticeMessage, now: number): number {
    const res = this.#db
      .prepare(
        'INSERT INTO notices (notifier, created_at, message, attempts, next_at) VALUES (?, ?, ?, 0, ?)',
      )
      .run(notifier, now, JSON.stringify(message), now);
    return Number(res.lastInsertRowid);
  }

  /** due returns up to `limit` notices waiting with a next attempt at or before `now`, oldest first. */
  due(now: number, limit: number): QueuedNotice[] {
    const rows = this.#db
      .prepare(
        `SELECT id, notifier, created_at, message, attempts FROM notices
         WHERE sent_at IS NULL AND failed_at IS NULL AND next_at <= ? ORDER BY id LIMIT ?`,
      )
      .all(now, limit) as unknown as RawNotice[];
    return rows.map((r) => ({
      id: r.id,
      notifier: r.notifier,
      createdAt: r.created_at,
      message: JSON.parse(r.message) as NoticeMessage,
      attempts: r.attempts,
    }));
  }

  markSent(id: number, attempts: number, now: number): void {
    this.#db
      .prepare('UPDATE notices SET sent_at = ?, attempts = ?, last_error = NULL WHERE id = ?')
      .run(now, attempts, id);
  }

  markRetry(id: number, attempts: number, nextAt: number, error: string): void {
    this.#db
      .prepare('UPDATE notices SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?')
      .run(attempts, nextAt, error, id);
  }

  markFailed(id: number, attempts: number, now: number, error: string): void {
    this.#db
      .prepare('UPDATE notices SET attempts = ?, failed_at = ?, last_error = ? WHERE id = ?')
      .run(attempts, now, error, id);
  }

  stats(notifier: string): NotifierStats {
    const counts = this.#db
      .prepare(
        `SELECT
           sum(sent_at IS NULL AND failed_at IS NULL) AS pending,
           sum(failed_at IS NOT NULL) AS failed,
           max(sent_at) AS last_sent
         FROM notices WHERE notifier = ?`,
      )
      .get(notifier) as { pending: number | null; failed: number | null; last_sent: number | null };
    // The error of the newest attempt that was made, if that attempt failed.
    const last = this.#db
      .prepare(
        `SELECT last_error FROM notices WHERE notifier = ? AND attempts > 0
         ORDER BY coalesce(sent_at, failed_at, next_at) DESC, id DESC LIMIT 1`,
      )
      .get(notifier) as { last_error: string | null } | undefined;
    return {
      pending: counts.pending ?? 0,
      failed: counts.failed ?? 0,
      lastSentAt: counts.last_sent,
      lastError: last?.last_error ?? null,
    };
  }

  addDigestLine(notifier: string, at: number, line: string): void {
    this.#db
      .prepare('INSERT INTO digest_items (notifier, at, line) VALUES (?, ?, ?)')
      .run(notifier, at, line);
  }

  /** takeDigest removes and returns the digest lines of `notifier`, oldest first. */
  takeDigest(notifier: string): { at: number; line: string }[] {
    const rows = this.#db
      .prepare('SELECT at, line FROM digest_items WHERE notifier = ? ORDER BY id')
      .all(notifier) as unknown as { at: number; line: string }[];
    this.#db.prepare('DELETE FROM digest_items WHERE notifier = ?').run(notifier);
    return rows;
  }

  /** lastDigestAt is when the last digest of `notifier` was queued, if ever. */
  lastDigestAt(notifier: string): number | null {
    const row = this.#db
      .prepare(
        `SELECT max(created_at) AS at FROM notices WHERE notifier = ? AND json_extract(message, '$.kind') = 'digest'`,
      )
      .get(notifier) as { at: number | null };
    return row.at;
  }

  /** prune deletes notices sent or given up on before `before`; returns how many. */
  prune(before: number): number {
    return Number(
      this.#db.prepare('DELETE FROM notices WHERE coalesce(sent_at, failed_at) < ?').run(before).changes,
    );
  }
}

interface RawNotifier {
  name: string;
  kind: string;
  policy: NoticePolicy;
  settings: string;
  created_at: number;
}

interface RawNotice {
  id: number;
  notifier: string;
  created_at: number;
  message: string;
  attempts: number;
}

function toNotifier(r: RawNotifier): NotifierRow {
  return {
    name: r.name,
    policy: r.policy,
    settings: JSON.parse(r.settings) as NotifierSettings,
    createdAt: r.created_at,
  };
}
