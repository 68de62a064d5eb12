import type { Change } from '../core/index.ts';
import {
  type Catalog,
  CHANGE_COLUMNS,
  type ChunkReferences,
  changeFromRow,
  changeValues,
} from '../store/index.ts';
import { checkChange } from './version-check.ts';

/*
 * The `versions` and `received` tables are spelled in SQL here and in state-at.ts (reads of
 * the state at a moment) only; the rest of the timeline and the roles call these functions.
 */

/**
 * VersionRow is one version of one path in the mirror's timeline: the state a change gave the
 * path, valid from `seq` until `supersededBy` (the seq of the next version of the same path),
 * or open-ended while `supersededBy` is null.
 */
export interface VersionRow extends Change {
  /** When this node received it (its own wall clock, ms), for people. */
  receivedAt: number;
  /** When this node received it on its funnel clock: the delay counts from here. */
  receivedMono: number;
  /** Production time: capture time corrected by the clock offset, never decreasing along seq. */
  producedAt: number;
  supersededBy: number | null;
}

/**
 * PREVIOUS_VERSION_SQL finds the version of a path just before a seq. INDEXED BY, because the
 * planner otherwise walks the (volume, seq) key through every earlier version: an initial copy
 * of 100,000 files then slowed to a crawl.
 */
export const PREVIOUS_VERSION_SQL =
  'SELECT kind FROM versions INDEXED BY versions_by_path WHERE volume = ? AND path = ? AND seq < ? ORDER BY seq DESC LIMIT 1';

/** Receipt is when a batch was received, on the clocks the timeline keeps. */
export interface Receipt {
  /** This node's wall clock, ms. */
  wallMs: number;
  /** This node's funnel clock (FunnelClock.now()). */
  funnelMs: number;
  /** The sender's wall clock minus ours, as last measured on the link (0 if unknown). */
  clockOffsetMs: number;
}

/** RecordedCounts says what a recorded batch did to paths that already existed. */
export interface RecordedCounts {
  /** New versions stored (re-deliveries are not counted). */
  recorded: number;
  /** Deletes of a path that existed. */
  deletes: number;
  /** Puts over a file that existed (its content rewritten). */
  rewrites: number;
}

/** ReceivePosition is the last change a mirror holds durably for a volume. */
export interface ReceivePosition {
  epoch: number;
  seq: number;
}

/**
 * recordVersions stores a batch of received changes as versions. Call it inside the caller's
 * transaction, together with `store.commitPending()` for the chunks they reference, so the
 * versions, their chunks and the receive position commit as one.
 *
 * The whole batch is validated first: one bad change throws (E_VERSION_INVALID or
 * E_PATH_INVALID) and nothing is written. A change whose (volume, seq) is already stored is
 * ignored, so a re-delivered batch is harmless. The receive position only moves forward.
 */
export function recordVersions(
  catalog: Catalog,
  changes: Change[],
  receipt: Receipt,
  fromNode: string,
): RecordedCounts {
  for (const change of changes) checkChange(change);
  const insert = catalog.prepare(
    `INSERT OR IGNORE INTO versions (${CHANGE_COLUMNS}, received_at, received_mono, produced_at, superseded_by)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
       (SELECT MIN(seq) FROM versions WHERE volume = ? AND path = ? AND seq > ?))`,
  );
  const previousKind = catalog.prepare(PREVIOUS_VERSION_SQL);
  const lastProduced = catalog.prepare(
    'SELECT produced_at FROM versions WHERE volume = ? AND seq < ? ORDER BY seq DESC LIMIT 1',
  );
  // The version just before the new one (by seq) ends where the new one starts. Computing both
  // ends from seq order, not arrival order, keeps the intervals right even if a batch were
  // delivered out of order.
  const closePrevious = catalog.prepare(
    `UPDATE versions SET superseded_by = ?
     WHERE volume = ? AND seq = (SELECT MAX(seq) FROM versions WHERE volume = ? AND path = ? AND seq < ?)
       AND (superseded_by IS NULL OR superseded_by > ?)`,
  );
  const advance = catalog.prepare(
    `INSERT INTO received (volume, epoch, seq, from_node) VALUES (?, ?, ?, ?)
     ON CONFLICT (volume) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq, from_node = excluded.from_node
     WHERE excluded.seq > received.seq OR (excluded.seq = received.seq AND excluded.epoch > received.epoch)`,
  );
  const last = new Map<string, Change>();
  const counts: RecordedCounts = { recorded: 0, deletes: 0, rewrites: 0 };
  const produced = new Map<string, number>();
  for (const c of changes) {
    // Production time: capture time on our clock, never before the previous change, never after receipt.
    let floor = produced.get(c.volume);
    if (floor === undefined) {
      const row = lastProduced.get(c.volume, c.seq) as { produced_at: number } | undefined;
      floor = row?.produced_at ?? 0;
    }
    const producedAt = Math.max(
      floor,
      Math.min(Math.round(c.capturedAt - receipt.clockOffsetMs), receipt.wallMs),
    );
    produced.set(c.volume, producedAt);
    const before = previousKind.get(c.volume, c.path, c.seq) as { kind: string } | undefined;
    const result = insert.run(
      ...changeValues(c),
      receipt.wallMs,
      receipt.funnelMs,
      producedAt,
      c.volume,
      c.path,
      c.seq,
    );
    if (result.changes > 0) {
      closePrevious.run(c.seq, c.volume, c.volume, c.path, c.seq, c.seq);
      counts.recorded++;
      if (c.kind === 'delete' && before && before.kind !== 'delete') counts.deletes++;
      if (c.kind === 'put' && before?.kind === 'put') counts.rewrites++;
    }
    const prev = last.get(c.volume);
    if (!prev || c.seq > prev.seq) last.set(c.volume, c);
  }
  for (const c of last.values()) advance.run(c.volume, c.epoch, c.seq, fromNode);
  return counts;
}

/** receivedPosition returns the last (epoch, seq) recorded for a volume, or null if none. */
export function receivedPosition(catalog: Catalog, volume: string): ReceivePosition | null {
  const row = catalog.prepare('SELECT epoch, seq FROM received WHERE volume = ?').get(volume) as
    | { epoch: number; seq: number }
    | undefined;
  return row ? { epoch: row.epoch, seq: row.seq } : null;
}

/** headSeq returns the highest seq stored in a volume's timeline, or 0 when it is empty. */
export function headSeq(catalog: Catalog, volume: string): number {
  const row = catalog.prepare('SELECT MAX(seq) AS seq FROM versions WHERE volume = ?').get(volume) as {
    seq: number | null;
  };
  return row.seq ?? 0;
}

/** versionsAfter returns up to `limit` versions of a volume with seq > `afterSeq`, in seq order. */
export function versionsAfter(
  catalog: Catalog,
  volume: string,
  afterSeq: number,
  limit: number,
): VersionRow[] {
  const rows = catalog
    .prepare('SELECT * FROM versions WHERE volume = ? AND seq > ? ORDER BY seq LIMIT ?')
    .all(volume, afterSeq, limit);
  return rows.map((row) => toVersionRow(row as Record<string, unknown>));
}

/** toVersionRow decodes a `versions` row (SELECT *). */
export function toVersionRow(row: Record<string, unknown>): VersionRow {
  return {
    ...changeFromRow(row),
    receivedAt: row.received_at as number,
    receivedMono: row.received_mono as number,
    producedAt: row.produced_at as number,
    supersededBy: row.superseded_by as number | null,
  };
}

/**
 * currentVersions yields the version of every path that is current after `seq` (not superseded
 * by a stored change), deletes included: the whole state a promoted mirror starts its outbox with.
 */
export function* currentVersions(catalog: Catalog, volume: string, seq: number): Iterable<VersionRow> {
  const rows = catalog
    .prepare('SELECT * FROM versions WHERE volume = ? AND superseded_by IS NULL AND seq <= ?')
    .iterate(volume, seq);
  for (const row of rows) yield toVersionRow(row as Record<string, unknown>);
}

/**
 * adoptChanges stores changes as versions that need no funnel (received at `receivedAt`,
 * already due, produced when captured): a demoted primary whose directory holds exactly the
 * state at the fork turns its outbox into its timeline. Each path must appear once. Call it in
 * the demotion's transaction.
 */
export function adoptChanges(catalog: Catalog, changes: Iterable<Change>, receivedAt: number): void {
  const insert = catalog.prepare(
    `INSERT INTO versions (${CHANGE_COLUMNS}, received_at, superseded_by, received_mono, produced_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, ?)`,
  );
  for (const c of changes) insert.run(...changeValues(c), receivedAt, c.capturedAt);
}

/** deleteVersions drops the whole timeline of a volume and its receive position. */
export function deleteVersions(catalog: Catalog, volume: string): void {
  catalog.prepare('DELETE FROM versions WHERE volume = ?').run(volume);
  catalog.prepare('DELETE FROM received WHERE volume = ?').run(volume);
}

/** forgetReceived drops the receive position of a volume this node no longer mirrors. */
export function forgetReceived(catalog: Catalog, volume: string): void {
  catalog.prepare('DELETE FROM received WHERE volume = ?').run(volume);
}

/** setReceivedPosition records that this node holds the volume up to `pos`, received from `from`. */
export function setReceivedPosition(
  catalog: Catalog,
  volume: string,
  pos: ReceivePosition,
  from: string,
): void {
  catalog
    .prepare('INSERT OR REPLACE INTO received (volume, epoch, seq, from_node) VALUES (?, ?, ?, ?)')
    .run(volume, pos.epoch, pos.seq, from);
}

/**
 * deleteAfter removes every version of the volume after `seq`; the versions they superseded
 * become current again. Returns how many were removed. Call it in a transaction.
 */
export function deleteAfter(catalog: Catalog, volume: string, seq: number): number {
  const gone = catalog.prepare('DELETE FROM versions WHERE volume = ? AND seq > ?').run(volume, seq);
  catalog
    .prepare('UPDATE versions SET superseded_by = NULL WHERE volume = ? AND superseded_by > ?')
    .run(volume, seq);
  return Number(gone.changes);
}

/** versionsAfterAll yields every version of the volume after `seq`, in seq order. */
export function* versionsAfterAll(catalog: Catalog, volume: string, seq: number): Iterable<VersionRow> {
  const rows = catalog
    .prepare('SELECT * FROM versions WHERE volume = ? AND seq > ? ORDER BY seq')
    .iterate(volume, seq);
  for (const row of rows) yield toVersionRow(row as Record<string, unknown>);
}

/**
 * pruneSuperseded removes the versions no moment at or after `horizon` can see: those
 * superseded at or before it, and deletes at or before it that nothing followed. Returns how
 * many. Call it in a transaction.
 */
export function pruneSuperseded(catalog: Catalog, volume: string, horizon: number): number {
  const a = catalog
    .prepare('DELETE FROM versions WHERE volume = ? AND superseded_by IS NOT NULL AND superseded_by <= ?')
    .run(volume, horizon);
  const b = catalog
    .prepare(
      `DELETE FROM versions WHERE volume = ? AND kind = 'delete' AND superseded_by IS NULL AND seq <= ?`,
    )
    .run(volume, horizon);
  return Number(a.changes) + Number(b.changes);
}

/** FunnelStats is what waits in a view's funnel: the versions after its position. */
export interface FunnelStats {
  changes: number;
  bytes: number;
  /** When the oldest waiting version was received (wall clock), or null. */
  oldestReceivedAt: number | null;
  /** When the next version was received on the funnel clock, or null when none waits. */
  nextReceivedMono: number | null;
}

/** funnelStats describes the versions of a volume after `afterSeq`. */
export function funnelStats(catalog: Catalog, volume: string, afterSeq: number): FunnelStats {
  const f = catalog
    .prepare(
      'SELECT COUNT(*) AS n, SUM(size) AS bytes, MIN(received_at) AS oldest FROM versions WHERE volume = ? AND seq > ?',
    )
    .get(volume, afterSeq) as { n: number; bytes: number | null; oldest: number | null };
  const next = catalog
    .prepare('SELECT received_mono FROM versions WHERE volume = ? AND seq > ? ORDER BY seq LIMIT 1')
    .get(volume, afterSeq) as { received_mono: number } | undefined;
  return {
    changes: f.n,
    bytes: f.bytes ?? 0,
    oldestReceivedAt: f.oldest,
    nextReceivedMono: next?.received_mono ?? null,
  };
}

/** oldestProducedAt returns the production time of the oldest version at or after `fromSeq`, or null. */
export function oldestProducedAt(catalog: Catalog, volume: string, fromSeq: number): number | null {
  const row = catalog
    .prepare('SELECT MIN(produced_at) AS t FROM versions WHERE volume = ? AND seq >= ?')
    .get(volume, fromSeq) as { t: number | null };
  return row.t;
}

/** countCurrentFiles returns how many regular files the volume holds in its newest state. */
export function countCurrentFiles(catalog: Catalog, volume: string): number {
  const row = catalog
    .prepare(`SELECT COUNT(*) AS n FROM versions WHERE volume = ? AND superseded_by IS NULL AND kind = 'put'`)
    .get(volume) as { n: number };
  return row.n;
}

/** newestReceipt returns the latest receipt of any volume on both clocks (funnel, wall), or null. */
export function newestReceipt(catalog: Catalog): { funnelMs: number; wallMs: number } | null {
  const row = catalog
    .prepare('SELECT received_mono, received_at FROM versions ORDER BY received_mono DESC LIMIT 1')
    .get() as { received_mono: number; received_at: number } | undefined;
  return row ? { funnelMs: row.received_mono, wallMs: row.received_at } : null;
}

/** VERSION_CHUNKS are the chunk lists of every version: garbage collection keeps them. */
export function versionChunks(catalog: Catalog): ChunkReferences {
  return {
    name: 'timeline',
    *chunkLists() {
      const rows = catalog.prepare('SELECT chunks FROM versions WHERE chunks IS NOT NULL').iterate();
      for (const r of rows as Iterable<{ chunks: Uint8Array }>) yield r.chunks;
    },
  };
}
