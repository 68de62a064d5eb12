import { type EpochRow, HindsightError, type VolumeSpec } from '../core/index.ts';
import { receivedPosition } from '../timeline/index.ts';
import type { Demotion } from './demote.ts';
import type { RoleContext } from './role-context.ts';

/**
 * MirrorAdmission answers a primary that declares a volume to this node (the VOLUME message):
 * a volume this node holds at an older epoch as primary is demoted first (failback); a
 * declaration older than what this node holds is refused (the sender is a demoted primary); a
 * new volume is recorded, seeded from what its directory already holds, and started.
 */
export class MirrorAdmission {
  readonly #ctx: RoleContext;
  readonly #demotion: Demotion;

  constructor(ctx: RoleContext, demotion: Demotion) {
    this.#ctx = ctx;
    this.#demotion = demotion;
  }

  /** accept takes the volume `from` declared at `epoch` and returns the position to stream from. */
  async accept(
    spec: VolumeSpec,
    from: string,
    epoch: number,
    head: number,
    epochs: EpochRow[] | null,
  ): Promise<{ epoch: number; seq: number }> {
    const { volumes, seed, events, catalog, runner } = this.#ctx;
    const existing = volumes.get(spec.name);
    let needsSeed = false;
    if (existing?.role === 'primary' && epoch > existing.epoch && spec.primary.node === from) {
      const { clean } = await this.#demotion.demote(spec.name, {
        epoch,
        spec,
        epochs: epochs ?? [{ epoch, firstSeq: 1, node: from, at: 0, reason: 'unknown' }],
      });
      needsSeed = !clean;
    }
    const held = volumes.get(spec.name)?.epoch ?? 1;
    if (epoch < held) {
      throw new HindsightError(
        'E_LINK_STALE_EPOCH',
        `${from} declares ${spec.name} at epoch ${epoch}; this node is at ${held}`,
        {
          hint: 'the sender is a demoted primary; it must rejoin as a mirror',
        },
      );
    }
    const isNew = !volumes.get(spec.name);
    const row = await volumes.acceptMirror(spec, from);
    // A mirror follows the epoch history of its primary.
    if (isNew || epoch > row.epoch) volumes.followEpochs(spec.name, epoch, epochs);
    if (needsSeed) await seed.seedIfNeeded(spec.name, row.path, head);
    if (isNew) {
      events.emit({
        level: 'info',
        type: 'volume.added',
        volume: spec.name,
        peer: from,
        msg: 'volume added',
        data: { role: 'mirror', path: row.path },
      });
      await seed.seedIfNeeded(spec.name, row.path, head);
    }
    runner.start(volumes.get(spec.name)!);
    const pos = receivedPosition(catalog, spec.name);
    return { epoch: pos?.epoch ?? volumes.get(spec.name)!.epoch, seq: pos?.seq ?? 0 };
  }
}
