import { HindsightError } from '../core/index.ts';
import type { Catalog } from '../store/index.ts';

/*
 * The `views` table: this file is the only one that spells its SQL.
 */

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
  /** Why it is held: 'hold' (a person), 'rewind', 'guard' (the mass-change guard); null when not held. */
  holdReason: HoldReason | null;
  /** When it was held (wall clock ms), or null. */
  heldSince: number | null;
  /** Set while a rewind moves the view from this seq to appliedSeq; finished at start if interrupted. */
  movingFrom: number | null;
}

/** HoldReason says who or what held a view. */
export type HoldReason = 'hold' | 'rewind' | 'guard';

/** listViews returns every view of a volume, by name. */
export function listViews(catalog: Catalog, volume: string): ViewRow[] {
  const names = catalog.prepare('SELECT name FROM views WHERE volume = ? ORDER BY name').all(volume) as {
    name: string;
  }[];
  return names.map((r) => readView(catalog, volume, r.name));
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
  const row = catalog.prepare('SELECT * FROM views WHERE volume = ? AND name = ?').get(volume, name) as
    | {
        root: string;
        delay_ms: number;
        applied_seq: number;
        held: number;
        hold_reason: HoldReason | null;
        held_since: number | null;
        moving_from: number | null;
      }
    | undefined;
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
    holdReason: row.held !== 0 ? (row.hold_reason ?? 'hold') : null,
    heldSince: row.held !== 0 ? row.held_since : null,
    movingFrom: row.moving_from,
  };
}

/**
 * setAppliedSeq records the position a view has reached. Call it only once every effect of
 * the versions up to `seq` is durable on disk: the position is a promise about the directory.
 */
export function setAppliedSeq(catalog: Catalog, volume: string, name: string, seq: number): void {
  catalog.prepare('UPDATE views SET applied_seq = ? WHERE volume = ? AND name = ?').run(seq, volume, name);
}

/**
 * setViewHeld holds a view (stops it moving forward) or releases it. A view already held keeps
 * its first reason and time, so a guard alert on a view a person held is not lost.
 */
export function setViewHeld(
  catalog: Catalog,
  volume: string,
  name: string,
  held: boolean,
  reason: HoldReason = 'hold',
  at: number | null = null,
): void {
  if (!held) {
    catalog
      .prepare(
        'UPDATE views SET held = 0, hold_reason = NULL, held_since = NULL WHERE volume = ? AND name = ?',
      )
      .run(volume, name);
    return;
  }
  catalog
    .prepare(
      `UPDATE views SET held = 1, hold_reason = COALESCE(CASE WHEN held = 1 THEN hold_reason END, ?),
         held_since = COALESCE(CASE WHEN held = 1 THEN held_since END, ?) WHERE volume = ? AND name = ?`,
    )
    .run(reason, at, volume, name);
}

/** setViewDelay changes a view's funnel delay; a shorter delay takes effect at the next batch. */
export function setViewDelay(catalog: Catalog, volume: string, name: string, delayMs: number): void {
  if (!Number.isSafeInteger(delayMs) || delayMs < 0) {
    throw new HindsightError('E_VIEW_DELAY', `refused delay ${delayMs}: not a non-negative integer of ms`);
  }
  catalog.prepare('UPDATE views SET delay_ms = ? WHERE volume = ? AND name = ?').run(delayMs, volume, name);
}

/**
 * recordMove records that the view moves from its position to `toSeq` (moving_from = the old
 * position) and holds it; the directory is changed afterwards and clearMove ends the move.
 * Call it in a transaction.
 */
export function recordMove(
  catalog: Catalog,
  volume: string,
  name: string,
  toSeq: number,
  heldAt: number,
): void {
  catalog
    .prepare('UPDATE views SET moving_from = applied_seq, applied_seq = ? WHERE volume = ? AND name = ?')
    .run(toSeq, volume, name);
  setViewHeld(catalog, volume, name, true, 'rewind', heldAt);
}

/** clearMove records that a recorded move is complete: every directory it changed is durable. */
export function clearMove(catalog: Catalog, volume: string, name: string): void {
  catalog.prepare('UPDATE views SET moving_from = NULL WHERE volume = ? AND name = ?').run(volume, name);
}

/** forgetViews drops every view of a volume this node no longer mirrors (the directories stay). */
export function forgetViews(catalog: Catalog, volume: string): void {
  catalog.prepare('DELETE FROM views WHERE volume = ?').run(volume);
}

/**
 * placeView creates (or moves) a view whose directory is known to hold the state at `seq`
 * exactly, with the given delay: a demoted primary's directory becomes its main view.
 */
export function placeView(
  catalog: Catalog,
  volume: string,
  name: string,
  at: { root: string; seq: number; delayMs: number },
): void {
  ensureView(catalog, volume, name, at.root);
  catalog
    .prepare('UPDATE views SET applied_seq = ?, delay_ms = ? WHERE volume = ? AND name = ?')
    .run(at.seq, at.delayMs, volume, name);
}
