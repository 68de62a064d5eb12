import { errorMessage, HindsightError } from '../core/index.ts';
import { crashPoint } from '../sys/index.ts';
import { missingVolume } from '../volumes/index.ts';
import type { Promotion } from './promote.ts';
import type { RoleContext } from './role-context.ts';

/** DRAIN_TIMEOUT_MS bounds how long a switchover waits for the mirror to acknowledge everything. */
const DRAIN_TIMEOUT_MS = 5 * 60 * 1000;

/** SwitchoverOutcome is what a switchover did: who is primary now, at which epoch and seq. */
export interface SwitchoverOutcome {
  volume: string;
  primary: string;
  epoch: number;
  seq: number;
}

/**
 * Switchover is the planned, lossless swap (docs/roles.md, "Switchover"). On the primary,
 * `switchover` runs the pre-switch hook, takes a last look and stops capture, drains the outbox,
 * and asks the mirror to take over at the last seq; on the mirror, `takeOver` answers that ask
 * by promoting at exactly that seq. The old primary then meets the new epoch and is demoted to
 * a mirror. If the mirror cannot take over, capture resumes here.
 */
export class Switchover {
  readonly #ctx: RoleContext;
  readonly #promotion: Promotion;

  constructor(ctx: RoleContext, promotion: Promotion) {
    this.#ctx = ctx;
    this.#promotion = promotion;
  }

  /** switchover hands `volume` from this primary to its mirror `to` (the only one by default). */
  async switchover(volume: string, to?: string): Promise<SwitchoverOutcome> {
    const { volumes, log, runner, service, hooks } = this.#ctx;
    const v = volumes.get(volume);
    if (!v) throw missingVolume(volume);
    if (v.role !== 'primary') {
      throw new HindsightError('E_SWITCHOVER_NOT_PRIMARY', `this node is a mirror of ${volume}`, {
        hint: `run it on the primary, ${v.spec.primary.node}`,
      });
    }
    const candidates = v.spec.mirrors.map((m) => m.node);
    const target = to ?? (candidates.length === 1 ? candidates[0] : undefined);
    if (!target || !candidates.includes(target)) {
      throw new HindsightError('E_USAGE', `name the mirror to hand over to: --to ${candidates.join('|')}`);
    }
    const link = runner.mirrorLink(target);
    if (!link?.connection || link.connection.isClosed) {
      throw new HindsightError('E_SWITCHOVER_MIRROR_DOWN', `the link to ${target} is down`, {
        hint: 'switchover needs the mirror connected; if it is gone for good, promote another mirror',
      });
    }
    await hooks.run('pre-switch', volume, { HINDSIGHT_TARGET: target });
    await runner.stopCapture(volume, true);
    crashPoint('switchover.captured');
    const seq = this.#ctx.outbox.lastSeq(volume);
    try {
      await this.#waitAcked(volume, target, seq);
      crashPoint('switchover.drained');
      await service.unserve(volume);
      // Stopped from here: the demotion to come has nothing left to flush or unserve.
      volumes.stop(volume, 'switching-over', `switching over to ${target}`);
      const epoch = await link.switchover(volume, v.epoch, seq);
      log.info('switched over', { volume, to: target, epoch, seq });
      return { volume, primary: target, epoch, seq };
    } catch (err) {
      // Still the primary: capture again, and say so.
      const now = volumes.get(volume);
      if (now?.role === 'primary') {
        volumes.resume(volume);
        runner.start(volumes.get(volume)!);
        await service.serve(volume);
      }
      this.#ctx.events.emit({
        level: 'error',
        type: 'role.switchover-failed',
        volume,
        peer: target,
        msg: 'switchover failed; this node stays the primary',
        data: { error: errorMessage(err) },
      });
      throw err;
    }
  }

  /** takeOver promotes this mirror at `seq` because its primary `from` asked (the mirror's side). */
  async takeOver(volume: string, from: string, epoch: number, seq: number): Promise<{ epoch: number }> {
    const v = this.#ctx.volumes.get(volume);
    if (v?.role !== 'mirror' || v.spec.primary.node !== from || v.epoch !== epoch) {
      throw new HindsightError(
        'E_SWITCHOVER_NOT_MIRROR',
        `${this.#ctx.self} does not mirror ${volume} of ${from}`,
      );
    }
    const done = await this.#promotion.promote(volume, {
      seq,
      force: true,
      reason: `switchover from ${from}`,
    });
    return { epoch: done.epoch };
  }

  /**
   * resumeInterrupted makes a primary that died midway through handing over the primary again:
   * if the mirror did take over, its epoch fences this node soon enough. Called at start.
   */
  resumeInterrupted(): void {
    for (const v of this.#ctx.volumes.list()) {
      if (v.role === 'primary' && v.stopCause === 'switching-over') this.#ctx.volumes.resume(v.name);
    }
  }

  /** #waitAcked waits until `mirror` acknowledged `seq` of the volume (the outbox drained to it). */
  async #waitAcked(volume: string, mirror: string, seq: number): Promise<void> {
    const { clock, runner } = this.#ctx;
    const started = clock.monotonic();
    while (runner.ackedSeq(volume, mirror) < seq) {
      if (clock.monotonic() - started > DRAIN_TIMEOUT_MS) {
        throw new HindsightError(
          'E_SWITCHOVER_DRAIN',
          `${mirror} did not acknowledge seq ${seq} within ${DRAIN_TIMEOUT_MS / 1000} s`,
          { hint: 'check the link and the mirror (hindsight status on both), then try again' },
        );
      }
      await clock.sleep(100);
    }
  }
}
