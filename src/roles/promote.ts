import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { fileRowOf } from '../capture/index.ts';
import { HindsightError, type VolumeSpec } from '../core/index.ts';
import { inTransaction } from '../store/index.ts';
import { crashPoint } from '../sys/index.ts';
import {
  currentVersions,
  forgetReceived,
  forgetViews,
  headSeq,
  listViews,
  quarantineAfter,
  type VersionRow,
} from '../timeline/index.ts';
import { missingVolume, type VolumeRow } from '../volumes/index.ts';
import { clearPromotion, promotionSeq, recordPromotion, unfinishedPromotions } from './promotion-records.ts';
import type { RoleContext } from './role-context.ts';

/** PromoteOutcome is what a promotion did. */
export interface PromoteOutcome {
  volume: string;
  epoch: number;
  seq: number;
  quarantined: number;
  primary: string;
}

/** PromoteOptions: the moment (`at`) or seq to promote at, and whether a connected primary is overruled. */
export interface PromoteOptions {
  at?: number;
  seq?: number;
  force?: boolean;
  reason?: string;
}

/**
 * Promotion makes this mirror the primary of a volume (docs/roles.md, "Promote").
 *
 * The epoch is bumped first, so from that moment the old primary's changes are refused as
 * stale; then every view moves to the seq promoted at, the changes after it go to the
 * quarantine, the outbox is filled with the current version of every path (so any mirror, at
 * any position, gets the whole state), and the volume turns primary with capture continuing at
 * the next seq. A crash in between is finished at start (`resume`).
 */
export class Promotion {
  readonly #ctx: RoleContext;

  constructor(ctx: RoleContext) {
    this.#ctx = ctx;
  }

  /**
   * promote makes this mirror the primary of `volume` at the moment `at`, or at `seq`, or with
   * everything received (the default).
   */
  promote(volume: string, options: PromoteOptions = {}): Promise<PromoteOutcome> {
    const { views, volumes, seed, catalog, runner } = this.#ctx;
    return views.exclusively(async () => {
      const v = volumes.get(volume);
      if (!v) throw missingVolume(volume);
      if (v.role !== 'mirror') {
        throw new HindsightError('E_PROMOTE_NOT_MIRROR', `this node is already the primary of ${volume}`);
      }
      if (!options.force && runner.isPrimaryConnected(volume)) {
        throw new HindsightError('E_PROMOTE_PRIMARY_UP', `the primary ${v.spec.primary.node} is connected`, {
          hint: 'for a planned swap use hindsight switchover; to promote anyway (the old primary is fenced by the epoch) add --force',
        });
      }
      if (seed.pendingHead(volume) !== null) {
        throw new HindsightError(
          'E_PROMOTE_SEEDING',
          `${volume} is still being seeded and has no complete state`,
          {
            hint: 'wait until status shows the view caught up',
          },
        );
      }
      const head = headSeq(catalog, volume);
      if (options.seq !== undefined && options.seq !== head) {
        throw new HindsightError(
          'E_SWITCHOVER_BEHIND',
          `${volume} holds seq ${head} here, not ${options.seq}`,
          {
            hint: 'the primary drains its outbox before it asks; try the switchover again',
          },
        );
      }
      const seq = options.at === undefined ? head : views.seqFor(volume, options.at);
      // Step 1, one transaction: the new epoch exists from here on; the old primary is stale.
      inTransaction(catalog, () => {
        volumes.beginEpoch(volume, {
          epoch: v.epoch + 1,
          firstSeq: seq + 1,
          node: this.#ctx.self,
          at: this.#ctx.clock.now(),
          reason: options.reason ?? (options.force ? 'promote --force' : 'promote'),
        });
        recordPromotion(catalog, volume, seq);
      });
      crashPoint('promote.recorded');
      return await this.#finish(volume);
    });
  }

  /**
   * promoteForFailover is the automatic promotion, after the witness agreed the primary is
   * gone. A view held by the mass-change guard holds something suspect: a person decides.
   */
  promoteForFailover(volume: string, why: string): Promise<PromoteOutcome> {
    const held = this.#ctx.views.views(volume).find((r) => r.held && r.holdReason === 'guard');
    if (held) {
      throw new HindsightError(
        'E_PROMOTE_GUARD',
        `the mass-change guard holds view ${held.name} of ${volume}`,
        {
          hint: `look with hindsight timeline ${volume}; then promote by hand at a moment before it: hindsight promote ${volume} --at T`,
        },
      );
    }
    return this.promote(volume, { force: true, reason: why });
  }

  /** resume finishes promotions that a crash interrupted; the daemon calls it at start. */
  async resume(): Promise<void> {
    for (const volume of unfinishedPromotions(this.#ctx.catalog)) {
      await this.#ctx.views.exclusively(() => this.#finish(volume));
    }
  }

  async #finish(volume: string): Promise<PromoteOutcome> {
    const { catalog, views, volumes, outbox, fileRows, clock, events, log } = this.#ctx;
    const seq = promotionSeq(catalog, volume)!;
    const v = volumes.get(volume)!;
    // Every view shows the promoted moment (delays bypassed), then applies nothing more.
    if (listViews(catalog, volume).length > 0) await views.moveTo(volume, seq);
    crashPoint('promote.moved');
    const quarantined = quarantineAfter(catalog, volume, seq, clock.now());
    const main = listViews(catalog, volume).find((r) => r.name === 'main');
    const root = main?.root ?? v.path;
    const files = await this.#fileRows(volume, root, seq);
    const spec = promotedSpec(v, this.#ctx.self, root);
    await views.forget(volume);
    inTransaction(catalog, () => {
      // The outbox starts with the current version of every path, under its own seq and epoch:
      // a mirror at any position before `seq` still receives the whole state.
      outbox.adopt(currentVersions(catalog, volume, seq));
      for (const f of files) fileRows.upsert(volume, f);
      forgetViews(catalog, volume);
      forgetReceived(catalog, volume);
      outbox.forgetAcks(volume);
      volumes.becomePrimary(volume, { spec, path: root, nextSeq: seq + 1 });
      clearPromotion(catalog, volume);
    });
    const row = volumes.get(volume)!;
    const outcome = { volume, epoch: row.epoch, seq, quarantined, primary: this.#ctx.self };
    log.info('promoted', { ...outcome });
    events.emit({
      level: 'warn',
      type: 'role.promoted',
      volume,
      msg: `this node is now the primary of ${volume}`,
      data: {
        ...outcome,
        formerPrimary: v.spec.primary.node,
        reason: volumes.epochs(volume).find((e) => e.epoch === row.epoch)?.reason,
      },
    });
    this.#ctx.runner.start(row);
    await this.#ctx.service.serve(volume);
    return outcome;
  }

  /**
   * #fileRows describes the view's entries as capture would after a scan, for the paths the
   * timeline holds at the promoted seq: with them, the first scan of the new primary finds
   * nothing changed, and the mirrors get only what changes from now on. An entry that differs
   * from its version (kind) is left out: the scan then captures it as a change.
   */
  async #fileRows(volume: string, root: string, seq: number) {
    const current: Pick<VersionRow, 'path' | 'kind' | 'seq'>[] = [];
    for (const v of currentVersions(this.#ctx.catalog, volume, seq)) {
      if (v.kind !== 'delete') current.push({ path: v.path, kind: v.kind, seq: v.seq });
    }
    const out = [];
    for (const r of current) {
      const st = await fsp.lstat(join(root, r.path), { bigint: true }).catch(() => null);
      if (!st) continue;
      const row = fileRowOf(r.path, st);
      const want =
        r.kind === 'put' ? 'file' : r.kind === 'mkdir' ? 'dir' : r.kind === 'symlink' ? 'symlink' : null;
      if (row === null || row.kind !== want) continue;
      out.push({ ...row, seq: r.seq });
    }
    return out;
  }
}

/**
 * promotedSpec is the volume's spec with this node as primary at `root`, and the old primary
 * as a mirror at its old directory with the delay this node had: the pair swapped.
 */
function promotedSpec(v: VolumeRow, self: string, root: string): VolumeSpec {
  const spec = v.spec;
  const mine = spec.mirrors.find((m) => m.node === self);
  const others = spec.mirrors.filter((m) => m.node !== self);
  return {
    ...spec,
    primary: { node: self, path: root },
    mirrors: [
      { node: spec.primary.node, path: spec.primary.path, delayMs: mine?.delayMs ?? 0, views: [] },
      ...others,
    ],
  };
}
