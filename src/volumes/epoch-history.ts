import type { EpochRow } from '../core/index.ts';
import type { Catalog } from '../store/index.ts';

/**
 * The epoch history of each volume (the `epochs` table; this file is its only writer): epoch N
 * began with seq `firstSeq`, written by `node`. Every node of a volume keeps it; a node that
 * rejoins takes its new primary's. The rules over a history are in core/epochs.ts.
 */

/** readEpochs returns the epoch history of a volume, oldest first. */
export function readEpochs(catalog: Catalog, volume: string): EpochRow[] {
  return catalog
    .prepare(
      'SELECT epoch, first_seq AS firstSeq, node, at, reason FROM epochs WHERE volume = ? ORDER BY epoch',
    )
    .all(volume) as unknown as EpochRow[];
}

/** recordEpoch adds (or, the same epoch again, keeps) an entry of the history; call it in a transaction. */
export function recordEpoch(catalog: Catalog, volume: string, e: EpochRow): void {
  catalog
    .prepare(
      'INSERT OR IGNORE INTO epochs (volume, epoch, first_seq, node, at, reason) VALUES (?, ?, ?, ?, ?, ?)',
    )
    .run(volume, e.epoch, e.firstSeq, e.node, e.at, e.reason);
}

/** replaceEpochs makes a volume's history the one given (a node that rejoins takes its new primary's). */
export function replaceEpochs(catalog: Catalog, volume: string, history: EpochRow[]): void {
  catalog.prepare('DELETE FROM epochs WHERE volume = ?').run(volume);
  for (const e of history) recordEpoch(catalog, volume, e);
}
