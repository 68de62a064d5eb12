import type { Clock, EventInput, EventSink, HEvent } from '../core/index.ts';
import type { Logger } from '../sys/index.ts';

interface Catalog {
  prepare(sql: string): {
    run(...args: unknown[]): { lastInsertRowid: number | bigint };
    all(...args: unknown[]): unknown[];
  };
}

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
    const waiters = this.#waiters;
    this.#waiters = new Set();
    for (const wake of waiters) wake();
  }

  /** since returns up to `limit` events with an id greater than `id`, oldest first. */
  since(id: number, limit = 1000): HEvent[] {
    const rows = this.#catalog
      .prepare('SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?')
      .all(id, limit) as EventRow[];
    return rows.map((r) => ({
      id: r.id,
      t: r.t,
      level: r.level,
      type: r.type,
      ...(r.volume ? { volume: r.volume } : {}),
      ...(r.peer ? { peer: r.peer } : {}),
      msg: r.msg,
      ...(r.data ? { data: JSON.parse(r.data) as Record<string, unknown> } : {}),
    }));
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
