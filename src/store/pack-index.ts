import { HASH_BYTES } from '../core/index.ts';
import type { Catalog } from './catalog.ts';
import type { ChunkReferences } from './chunk-references.ts';
import { RECORD_HEADER_BYTES } from './pack-file.ts';

/**
 * The pack index: the `chunks` table (where each chunk's record is) and the `packs` table
 * (each pack's committed size, and whether it is sealed). These statements are the only SQL
 * for the two tables; PackStore alone runs them, in the durability order of chunk-store.ts.
 */

/** PackIndex is the prepared statements of the pack index. */
export type PackIndex = ReturnType<typeof preparePackIndex>;

/** preparePackIndex prepares the statements of the pack index on a catalog. */
export function preparePackIndex(db: Catalog) {
  // Garbage collection marks live chunks here, on disk like the rest of the catalog, so that a
  // collection costs memory in proportion to SQLite's page cache, not to the chunks there are.
  db.exec('CREATE TEMP TABLE IF NOT EXISTS gc_live (hash BLOB PRIMARY KEY) WITHOUT ROWID');
  return {
    has: db.prepare('SELECT 1 FROM chunks WHERE hash = ?'),
    get: db.prepare('SELECT pack, offset, stored_len, raw_len, codec FROM chunks WHERE hash = ?'),
    page: db.prepare(
      'SELECT hash, pack, offset, stored_len, raw_len, codec FROM chunks WHERE hash > ? ORDER BY hash LIMIT ?',
    ),
    insertChunk: db.prepare(
      'INSERT OR IGNORE INTO chunks (hash, pack, offset, stored_len, raw_len, codec) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    upsertPack: db.prepare(
      'INSERT INTO packs (id, size) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET size = max(size, excluded.size)',
    ),
    sealPack: db.prepare(
      'INSERT INTO packs (id, size, sealed) VALUES (?, 0, 1) ON CONFLICT (id) DO UPDATE SET sealed = 1',
    ),
    maxPack: db.prepare('SELECT max(id) AS id FROM packs'),
    markLive: db.prepare('INSERT OR IGNORE INTO temp.gc_live (hash) VALUES (?)'),
    clearLive: db.prepare('DELETE FROM temp.gc_live'),
    unmarked: db.prepare(
      'SELECT hash, pack, stored_len FROM chunks WHERE NOT EXISTS (SELECT 1 FROM temp.gc_live l WHERE l.hash = chunks.hash)',
    ),
    dropChunk: db.prepare('DELETE FROM chunks WHERE hash = ?'),
    packUsage: db.prepare(
      `SELECT pack, SUM(stored_len + ${RECORD_HEADER_BYTES}) AS live FROM chunks GROUP BY pack`,
    ),
    inPack: db.prepare('SELECT hash, pack, offset, stored_len, raw_len, codec FROM chunks WHERE pack = ?'),
    moveChunk: db.prepare('UPDATE chunks SET pack = ?, offset = ? WHERE hash = ? AND pack = ?'),
    dropPack: db.prepare('DELETE FROM packs WHERE id = ?'),
    packInUse: db.prepare('SELECT 1 FROM chunks WHERE pack = ? LIMIT 1'),
    packSize: db.prepare('SELECT size FROM packs WHERE id = ?'),
  };
}

/** markLive marks every chunk the holders list in `gc_live`, emptied first; call in a transaction. */
export function markLive(stmts: PackIndex, references: readonly ChunkReferences[]): void {
  stmts.clearLive.run();
  for (const holder of references) {
    for (const list of holder.chunkLists()) {
      for (let i = 0; i + HASH_BYTES <= list.byteLength; i += HASH_BYTES) {
        stmts.markLive.run(list.subarray(i, i + HASH_BYTES));
      }
    }
  }
}
