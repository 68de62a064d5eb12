import type { Change, ChangeKind } from '../core/index.ts';
import type { Catalog } from '../store/index.ts';
import { checkChange } from './version-check.ts';

/**
 * VersionRow is one version of one path in the mirror's timeline: the state a change gave the
 * path, valid from `seq` until `supersededBy` (the seq of the next version of the same path),
 * or open-ended while `supersededBy` is null.
 */
export interface VersionRow {
  volume: string;
  seq: number;
  epoch: number;
  path: string;
  kind: ChangeKind;
  mode: number;
  mtimeMs: number;
  size: number;
  chunks: Buffer | null;
  target: string | null;
  capturedAt: number;
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
    `INSERT OR IGNORE INTO versions (volume, seq, epoch, path, kind, mode, mtime_ms, size, chunks, target,
       captured_at, received_at, received_mono, produced_at, superseded_by)
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
      c.volume,
      c.seq,
      c.epoch,
      c.path,
      c.kind,
      c.mode,
      c.mtimeMs,
      c.size,
      c.chunks,
      c.target,
      c.capturedAt,
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

export function toVersionRow(row: Record<string, unknown>): VersionRow {
  const chunks = row.chunks as Uint8Array | null;
  return {
    volume: row.volume as string,
    seq: row.seq as number,
    epoch: row.epoch as number,
    path: row.path as string,
    kind: row.kind as ChangeKind,
    mode: row.mode as number,
    mtimeMs: row.mtime_ms as number,
    size: row.size as number,
    chunks: chunks ? Buffer.from(chunks.buffer, chunks.byteOffset, chunks.byteLength) : null,
    target: row.target as string | null,
    capturedAt: row.captured_at as number,
    receivedAt: row.received_at as number,
    receivedMono: row.received_mono as number,
    producedAt: row.produced_at as number,
    supersededBy: row.superseded_by as number | null,
  };
}
