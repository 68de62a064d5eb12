import { HindsightError } from '../core/index.ts';
import { applyStates, checkTarget, listQuarantine, type QuarantineRow } from '../timeline/index.ts';
import { missingVolume } from '../volumes/index.ts';
import type { RoleContext } from './role-context.ts';

/** QuarantineSummary is a quarantined state as `hindsight divergence` lists it (no chunk list). */
export type QuarantineSummary = Omit<QuarantineRow, 'chunks'>;

/**
 * Divergence is what a role change kept out of the timeline on this node: the changes a
 * promoted mirror received after the moment it promoted at, and what a demoted primary had
 * that the new primary never got. It is listed and exported as files, never thrown away.
 */
export class Divergence {
  readonly #ctx: RoleContext;

  constructor(ctx: RoleContext) {
    this.#ctx = ctx;
  }

  /** list returns what the volume keeps out of its timeline on this node. */
  list(volume: string): QuarantineSummary[] {
    if (!this.#ctx.volumes.get(volume)) throw missingVolume(volume);
    return listQuarantine(this.#ctx.catalog, volume).map(({ chunks: _chunks, ...rest }) => rest);
  }

  /**
   * export writes the quarantined states of `origin` (default: all) as files into `into`, a new
   * or empty directory, at their paths; deletes are listed, not written. When a path is
   * quarantined more than once, the latest state is written.
   */
  async export(volume: string, into: string, origin?: QuarantineRow['origin']) {
    const { catalog, store, volumes, events } = this.#ctx;
    if (!volumes.get(volume)) throw missingVolume(volume);
    const rows = listQuarantine(catalog, volume).filter((r) => origin === undefined || r.origin === origin);
    if (rows.length === 0) {
      throw new HindsightError('E_QUARANTINE_EMPTY', `nothing of ${volume} is quarantined on this node`);
    }
    const latest = new Map<string, QuarantineRow>();
    // Seq 0 is a state never captured: newer than any captured one of the same path.
    const order = (r: QuarantineRow) => (r.seq === 0 ? Number.POSITIVE_INFINITY : r.seq);
    for (const r of rows) if (order(latest.get(r.path) ?? r) <= order(r)) latest.set(r.path, r);
    const dir = await checkTarget(catalog, volumes, into, true);
    const states = [...latest.values()]
      .filter((r) => r.kind === 'put' || r.kind === 'mkdir' || r.kind === 'symlink')
      .map((r) => ({
        ...r,
        volume,
        receivedAt: 0,
        receivedMono: 0,
        producedAt: r.capturedAt,
        supersededBy: null,
      }));
    const done = await applyStates(store, dir, [], states, { fresh: true });
    const deleted = [...latest.values()].filter((r) => r.kind === 'delete').map((r) => r.path);
    events.emit({
      level: 'info',
      type: 'quarantine.exported',
      volume,
      msg: 'quarantined states exported',
      data: { into: dir, ...done, deleted: deleted.length },
    });
    return { into: dir, ...done, deleted };
  }
}
