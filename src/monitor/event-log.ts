import type { Clock, EventInput, EventSink, HEvent } from '../core/index.ts';
import type { Logger } from '../sys/index.ts';

interface Catalog {
  prepare(sql: string): {
    run(...args: unknown[]): { lastInsertRowid: number | bigint; changes: number | bigint };
    all(...args: unknown[]): unknown[];
    get(...args: unknown[]): unknown;
  };
}

/** EventRetention bounds the log: events older than `maxAgeMs` go, and beyond `maxEvents` the oldest. */
export interface EventRetention {
  maxAgeMs: number;
  maxEvents: number;
}

/** DEFAULT_EVENT_RETENTION keeps a year of events, at most a million of them (about 300 MB). */
export const DEFAULT_EVENT_RETENTION: EventRetention = {
  maxAgeMs: 365 * 24 * 60 * 60 * 1000,
  maxEvents: 1_000_000,
};

interface EventRow {
  id: number;
  t: number;
  level: HEvent['level'];
  type: HEvent['type'];
  volume: string | null;
  peer: string | null;
  msg: string;
  data: string | null;
}

/**
 * EventLog stores every event in the catalog with a monotonic id (SQLite AUTOINCREMENT never
 * reuses an id) and wakes readers waiting for news, so `GET /events?since=N` can long-poll.
 * Each event is also written to the log.
 */
export class EventLog implements EventSink {
  readonly #catalog: Catalog;
  readonly #clock: Clock;
  readonly #log: Logger;
  #waiters = new Set<() => void>();
  #listeners = new Set<(event: HEvent) => void>();

  constructor(deps: { catalog: Catalog; clock: Clock; log: Logger }) {
    this.#catalog = deps.catalog;
    this.#clock = deps.clock;
    this.#log = deps.log;
  }

  emit(event: EventInput): void {
    const t = this.#clock.now();
    let id = 0;
    try {
      const res = this.#catalog
        .prepare('INSERT INTO events (t, level, type, volume, peer, msg, data) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(
          t,
          event.level,
          event.type,
          event.volume ?? null,
          event.peer ?? null,
          event.msg,
          event.data ? JSON.stringify(event.data) : null,
        );
      id = Number(res.lastInsertRowid);
    } catch (err) {
      // The log must not take the caller down (a full disk is itself worth an event).
      this.#log.error('event not stored', { err, type: event.type });
    }
    const logFields = { event: event.type, id, volume: event.volume, peer: event.peer, ...event.data };
    this.#log[event.level](event.msg, logFields);
    const stored: HEvent = { id, t, ...event };
    for (const listener of this.#listeners) {
      try {
        listener(stored);
      } catch (err) {
        this.#log.error('event listener failed', { err, type: event.type });
      }
    }
    const waiters = this.#waiters;
    this.#waiters = new Set();
    for (const wake of waiters) wake();
  }

  /**
   * subscribe calls `listener` with every event as it is emitted, after it is stored; it must
   * not throw (a throw is logged) and must not wait. Returns the function that unsubscribes.
   */
  subscribe(listener: (event: HEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** since returns up to `limit` events with an id greater than `id`, oldest first. */
  since(id: number, limit = 1000): HEvent[] {
    const rows = this.#catalog
      .prepare('SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?')
      .all(id, limit) as EventRow[];
    return rows.map(toEvent);
  }

  /**
   * between returns up to `limit` events with a time in [from, until] and an id above `afterId`,
   * oldest first (an export pages on with the last id it got).
   */
  between(from: number, until: number, afterId = 0, limit = 1000): HEvent[] {
    const rows = this.#catalog
      .prepare('SELECT * FROM events WHERE t >= ? AND t <= ? AND id > ? ORDER BY id LIMIT ?')
      .all(from, until, afterId, limit) as EventRow[];
    return rows.map(toEvent);
  }

  /** latestOfType returns up to `limit` events of `type` since `sinceMs`, newest first. */
  latestOfType(type: HEvent['type'], sinceMs: number, limit = 100): HEvent[] {
    const rows = this.#catalog
      .prepare('SELECT * FROM events WHERE t >= ? AND type = ? ORDER BY id DESC LIMIT ?')
      .all(sinceMs, type, limit) as EventRow[];
    return rows.map(toEvent);
  }

  /** prune applies the retention and returns how many events it deleted. */
  prune(retention: EventRetention = DEFAULT_EVENT_RETENTION): number {
    const cutoff = this.#clock.now() - retention.maxAgeMs;
    let deleted = Number(this.#catalog.prepare('DELETE FROM events WHERE t < ?').run(cutoff).changes);
    const newest = this.#catalog.prepare('SELECT max(id) AS id FROM events').get() as { id: number | null };
    if (newest.id !== null) {
      const floor = newest.id - retention.maxEvents;
      deleted += Number(this.#catalog.prepare('DELETE FROM events WHERE id <= ?').run(floor).changes);
    }
    return deleted;
  }

  /** wait returns events after `id`, waiting up to `ms` for the first one to arrive. */
  async wait(id: number, ms: number, signal?: AbortSignal): Promise<HEvent[]> {
    const now = this.since(id);
    if (now.length > 0 || ms <= 0) return now;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.#waiters.delete(done);
        stopTimer();
        resolve();
      };
      const stopTimer = this.#clock.every(ms, done);
      signal?.addEventListener('abort', done, { once: true });
      this.#waiters.add(done);
    });
    return this.since(id);
  }
}

function toEvent(r: EventRow): HEvent {
  return {
    id: r.id,
    t: r.t,
    level: r.level,
    type: r.type,
    ...(r.volume ? { volume: r.volume } : {}),
    ...(r.peer ? { peer: r.peer } : {}),
    msg: r.msg,
    ...(r.data ? { data: JSON.parse(r.data) as Record<string, unknown> } : {}),
  };
}
