import { HASH_BYTES } from '../core/index.ts';
import { type Catalog, inTransaction } from '../store/index.ts';
import { crashPoint } from '../sys/index.ts';
import { seqAt } from './state-at.ts';
import { listViews } from './views.ts';

/**
 * History retention. A volume keeps every moment of its history window; a version may go once
 * no moment that is still wanted can see it. The *horizon* is the oldest seq that must stay
 * reconstructible: the last change before now − history, or any view's position (a held view
 * keeps its history however old), or the start of an unfinished rewind, whichever is oldest.
 * Versions superseded at or before the horizon, and deletes at or before it that nothing
 * followed, are invisible from every moment ≥ horizon, so they are removed; the horizon is
 * recorded as the volume's history floor, the oldest moment `rewind` and `preview` accept.
 */

const FLOOR_KEY = 'history_floor:';

/** historyHorizon returns the oldest seq of `volume` that must remain reconstructible. */
export function historyHorizon(catalog: Catalog, volume: string, historyMs: number, nowMs: number): number {
  let horizon = seqAt(catalog, volume, nowMs - historyMs);
  for (const view of listViews(catalog, volume)) {
    horizon = Math.min(horizon, view.appliedSeq, view.movingFrom ?? view.appliedSeq);
  }
  return Math.max(horizon, historyFloor(catalog, volume));
}

/** historyFloor returns the oldest seq that can still be reconstructed (0: everything). */
export function historyFloor(catalog: Catalog, volume: string): number {
  const row = catalog.prepare('SELECT value FROM meta WHERE key = ?').get(FLOOR_KEY + volume) as
    | { value: string }
    | undefined;
  return row ? Number(row.value) : 0;
}

/** pruneVersions removes the versions invisible from every seq ≥ `horizon`; returns how many. */
export function pruneVersions(catalog: Catalog, volume: string, horizon: number): number {
  const removed = inTransaction(catalog, () => {
    const a = catalog
      .prepare('DELETE FROM versions WHERE volume = ? AND superseded_by IS NOT NULL AND superseded_by <= ?')
      .run(volume, horizon);
    const b = catalog
      .prepare(
        `DELETE FROM versions WHERE volume = ? AND kind = 'delete' AND superseded_by IS NULL AND seq <= ?`,
      )
      .run(volume, horizon);
    catalog
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .run(FLOOR_KEY + volume, String(horizon));
    return Number(a.changes) + Number(b.changes);
  });
  crashPoint('gc.after-prune');
  return removed;
}

/**
 * liveChunks returns a test for "something references this chunk": any version of any volume
 * or any change in the outbox. Read it and pass it to ChunkStore.collect in the same tick, so
 * nothing commits in between.
 */
export function liveChunks(catalog: Catalog): (hash: Buffer) => boolean {
  const live = new Set<string>();
  for (const sql of [
    'SELECT chunks FROM versions WHERE chunks IS NOT NULL',
    'SELECT chunks FROM changes WHERE chunks IS NOT NULL',
    'SELECT chunks FROM quarantine WHERE chunks IS NOT NULL',
  ]) {
    for (const row of catalog.prepare(sql).iterate() as Iterable<{ chunks: Uint8Array }>) {
      const list = Buffer.from(row.chunks.buffer, row.chunks.byteOffset, row.chunks.byteLength);
      for (let i = 0; i < list.length; i += HASH_BYTES) live.add(list.toString('latin1', i, i + HASH_BYTES));
    }
  }
  return (hash) => live.has(hash.toString('latin1'));
}
