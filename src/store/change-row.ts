import type { Change, ChangeKind } from '../core/index.ts';

/**
 * The change row: the columns a change has in every table that keeps changes (the outbox's
 * `changes`, the timeline's `versions`, the `quarantine`), and the one codec between those
 * columns and a Change. A table adds its own columns beside these.
 */

/** CHANGE_COLUMNS are the change columns in the order changeValues gives their values. */
export const CHANGE_COLUMNS =
  'volume, seq, epoch, path, kind, mode, mtime_ms, size, chunks, target, captured_at';

/** ChangeValue is one SQL parameter of a change row. */
export type ChangeValue = string | number | Buffer | null;

/** changeValues returns a change's values in CHANGE_COLUMNS order, for an INSERT. */
export function changeValues(c: Change): ChangeValue[] {
  return [
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
  ];
}

/**
 * changeFromRow decodes the change columns of a row read with node:sqlite. The chunk list is a
 * view of the row's bytes, not a copy.
 */
export function changeFromRow(row: Record<string, unknown>): Change {
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
    target: (row.target as string | null) ?? null,
    capturedAt: row.captured_at as number,
  };
}
