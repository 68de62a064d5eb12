import { type Catalog, type ChunkReferences, inTransaction } from '../store/index.ts';
import { deleteAfter, versionsAfterAll } from './versions.ts';

/*
 * The `quarantine` table: this file is the only one that spells its SQL.
 */

/** QuarantineRow is a path state kept out of the timeline: listed, exportable, never collected. */
export interface QuarantineRow {
  epoch: number;
  seq: number;
  origin: 'after-promote' | 'divergence';
  path: string;
  kind: 'put' | 'mkdir' | 'symlink' | 'delete' | 'meta';
  mode: number;
  mtimeMs: number;
  size: number;
  chunks: Buffer | null;
  target: string | null;
  capturedAt: number;
  quarantinedAt: number;
}

/**
 * quarantineAfter moves every stored change of the volume after `seq` out of the timeline into
 * the quarantine (origin 'after-promote'): a mirror promoted at a moment keeps what it received
 * after it, but its new timeline continues from `seq`. Versions those changes superseded become
 * current again. One transaction; returns how many changes were moved.
 */
export function quarantineAfter(catalog: Catalog, volume: string, seq: number, now: number): number {
  return inTransaction(catalog, () => {
    const after = versionsAfterAll(catalog, volume, seq);
    insertQuarantine(
      catalog,
      volume,
      mapRows(after, (v) => ({ ...v, origin: 'after-promote', quarantinedAt: now })),
    );
    return deleteAfter(catalog, volume, seq);
  });
}

/** insertQuarantine stores rows (call it in a transaction, with the commit of their chunks). */
export function insertQuarantine(catalog: Catalog, volume: string, rows: Iterable<QuarantineRow>): void {
  const insert = catalog.prepare(
    `INSERT OR REPLACE INTO quarantine
       (volume, epoch, seq, origin, path, kind, mode, mtime_ms, size, chunks, target, captured_at, quarantined_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const r of rows) {
    insert.run(
      volume,
      r.epoch,
      r.seq,
      r.origin,
      r.path,
      r.kind,
      r.mode,
      r.mtimeMs,
      r.size,
      r.chunks,
      r.target,
      r.capturedAt,
      r.quarantinedAt,
    );
  }
}

/** listQuarantine returns a volume's quarantined states, by origin, then path. */
export function listQuarantine(catalog: Catalog, volume: string): QuarantineRow[] {
  const rows = catalog
    .prepare(
      `SELECT epoch, seq, origin, path, kind, mode, mtime_ms, size, chunks, target, captured_at, quarantined_at
       FROM quarantine WHERE volume = ? ORDER BY origin, path, seq`,
    )
    .all(volume) as Record<string, unknown>[];
  return rows.map((r) => ({
    epoch: r.epoch as number,
    seq: r.seq as number,
    origin: r.origin as QuarantineRow['origin'],
    path: r.path as string,
    kind: r.kind as QuarantineRow['kind'],
    mode: r.mode as number,
    mtimeMs: r.mtime_ms as number,
    size: r.size as number,
    chunks: r.chunks ? Buffer.from(r.chunks as Uint8Array) : null,
    target: r.target as string | null,
    capturedAt: r.captured_at as number,
    quarantinedAt: r.quarantined_at as number,
  }));
}

/** quarantineChunks are the chunk lists the quarantine holds: never collected while it keeps them. */
export function quarantineChunks(catalog: Catalog): ChunkReferences {
  return {
    name: 'quarantine',
    *chunkLists() {
      const rows = catalog.prepare('SELECT chunks FROM quarantine WHERE chunks IS NOT NULL').iterate();
      for (const r of rows as Iterable<{ chunks: Uint8Array }>) yield r.chunks;
    },
  };
}

function* mapRows<A, B>(rows: Iterable<A>, fn: (a: A) => B): Iterable<B> {
  for (const r of rows) yield fn(r);
}
