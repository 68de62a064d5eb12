import { HindsightError } from '../core/index.ts';
import type { Catalog } from '../store/index.ts';

/**
 * ViewRow is one view of a volume's timeline on disk: a directory whose content equals the
 * timeline as of `appliedSeq`. `delayMs` is how long a version waits in the funnel before it
 * is applied; `held` stops the view from moving forward at all.
 */
export interface ViewRow {
  volume: string;
  name: string;
  root: string;
  delayMs: number;
  appliedSeq: number;
  held: boolean;
}

/**
 * ensureView creates the `views` row of (volume, name) if it is missing and returns the row.
 * When the row exists with another root (the volume was moved on this node), the new root is
 * recorded and `appliedSeq` reset to 0: the new directory is rebuilt from the timeline, because
 * nothing proves its content matches the old position.
 */
export function ensureView(catalog: Catalog, volume: string, name: string, root: string): ViewRow {
  catalog
    .prepare('INSERT OR IGNORE INTO views (volume, name, root) VALUES (?, ?, ?)')
    .run(volume, name, root);
  const row = readView(catalog, volume, name);
  if (row.root === root) return row;
  catalog
    .prepare('UPDATE views SET root = ?, applied_seq = 0 WHERE volume = ? AND name = ?')
    .run(root, volume, name);
  return readView(catalog, volume, name);
}

/** readView returns the `views` row of (volume, name); throws E_VIEW_MISSING if there is none. */
export function readView(catalog: Catalog, volume: string, name: string): ViewRow {
  const row = catalog
    .prepare('SELECT root, delay_ms, applied_seq, held FROM views WHERE volume = ? AND name = ?')
    .get(volume, name) as { root: string; delay_ms: number; applied_seq: number; held: number } | undefined;
  if (!row) {
    throw new HindsightError('E_VIEW_MISSING', `volume ${volume} has no view named ${name}`, {
      hint: 'the view is created when the mirror volume is set up; check `hindsight status`',
    });
  }
  return {
    volume,
    name,
    root: row.root,
    delayMs: row.delay_ms,
    appliedSeq: row.applied_seq,
    held: row.held !== 0,
  };
}

/**
 * setAppliedSeq records the position a view has reached. Call it only once every effect of
 * the versions up to `seq` is durable on disk: the position is a promise about the directory.
 */
export function setAppliedSeq(catalog: Catalog, volume: string, name: string, seq: number): void {
  catalog.prepare('UPDATE views SET applied_seq = ? WHERE volume = ? AND name = ?').run(seq, volume, name);
}

/** setViewHeld holds a view (stops it moving forward) or releases it. */
export function setViewHeld(catalog: Catalog, volume: string, name: string, held: boolean): void {
  catalog.prepare('UPDATE views SET held = ? WHERE volume = ? AND name = ?').run(held ? 1 : 0, volume, name);
}

/** setViewDelay changes a view's funnel delay; a shorter delay takes effect at the next batch. */
export function setViewDelay(catalog: Catalog, volume: string, name: string, delayMs: number): void {
  if (!Number.isSafeInteger(delayMs) || delayMs < 0) {
    throw new HindsightError('E_VIEW_DELAY', `refused delay ${delayMs}: not a non-negative integer of ms`);
  }
  catalog.prepare('UPDATE views SET delay_ms = ? WHERE volume = ? AND name = ?').run(delayMs, volume, name);
}
