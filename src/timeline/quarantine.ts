import {
  type Catalog,
  CHANGE_COLUMNS,
  type ChunkReferences,
  changeFromRow,
  changeValues,
  inTransaction,
} from '../store/index.ts';
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
    `INSERT OR REPLACE INTO quarantine (${CHANGE_COLUMNS}, origin, quarantined_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const r of rows) insert.run(...changeValues({ ...r, volume }), r.origin, r.quarantinedAt);
}

/** listQuarantine returns a volume's quarantined states, by origin, then path. */
export function listQuarantine(catalog: Catalog, volume: string): QuarantineRow[] {
  const rows = catalog
    .prepare(
      `SELECT ${CHANGE_COLUMNS}, origin, quarantined_at FROM quarantine WHERE volume = ? ORDER BY origin, path, seq`,
    )
    .all(volume) as Record<string, unknown>[];
  return rows.map((r) => {
    const { volume: _volume, ...change } = changeFromRow(r);
    return {
      ...change,
      kind: change.kind as QuarantineRow['kind'],
      origin: r.origin as QuarantineRow['origin'],
      quarantinedAt: r.quarantined_at as number,
    };
  });
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
