import { type Catalog, inTransaction, readMeta, writeMeta } from '../store/index.ts';
import { crashPoint } from '../sys/index.ts';
import { seqAt } from './state-at.ts';
import { pruneSuperseded } from './versions.ts';
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
  const value = readMeta(catalog, FLOOR_KEY + volume);
  return value === undefined ? 0 : Number(value);
}

/** pruneVersions removes the versions invisible from every seq ≥ `horizon`; returns how many. */
export function pruneVersions(catalog: Catalog, volume: string, horizon: number): number {
  const removed = inTransaction(catalog, () => {
    const n = pruneSuperseded(catalog, volume, horizon);
    writeMeta(catalog, FLOOR_KEY + volume, String(horizon));
    return n;
  });
  crashPoint('gc.after-prune');
  return removed;
}
