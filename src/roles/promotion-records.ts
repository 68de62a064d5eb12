import type { Catalog } from '../store/index.ts';

/**
 * The `promotions` table (its only user): a promotion recorded and not yet finished, with the
 * seq it promotes at. The record is written in the transaction that begins the new epoch and
 * removed in the one that ends the promotion, so an agent that dies in between finishes it at
 * start (Promotion.resume).
 */

/** recordPromotion notes that `volume` is being promoted at `seq`; call it in the epoch's transaction. */
export function recordPromotion(catalog: Catalog, volume: string, seq: number): void {
  catalog.prepare('INSERT OR REPLACE INTO promotions (volume, seq) VALUES (?, ?)').run(volume, seq);
}

/** promotionSeq returns the seq an unfinished promotion of `volume` promotes at, or undefined. */
export function promotionSeq(catalog: Catalog, volume: string): number | undefined {
  const row = catalog.prepare('SELECT seq FROM promotions WHERE volume = ?').get(volume) as
    | { seq: number }
    | undefined;
  return row?.seq;
}

/** unfinishedPromotions lists the volumes whose promotion a crash interrupted. */
export function unfinishedPromotions(catalog: Catalog): string[] {
  const rows = catalog.prepare('SELECT volume FROM promotions ORDER BY volume').all() as { volume: string }[];
  return rows.map((r) => r.volume);
}

/** clearPromotion removes the record; call it in the transaction that finishes the promotion. */
export function clearPromotion(catalog: Catalog, volume: string): void {
  catalog.prepare('DELETE FROM promotions WHERE volume = ?').run(volume);
}
