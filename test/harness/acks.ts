import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster } from './cluster.ts';
import { findVolume, type StatusJson } from './status-json.ts';
import type { TestNode } from './test-node.ts';
import { diffListings, type TreeRecord, treeHash, treeListing } from './tree-hash.ts';
import { waitConverged, waitFor } from './wait.ts';

/**
 * The oracle of acknowledged changes (TESTING.md, oracle 2): everything the system acknowledged
 * is in the mirror after recovery — zero lost. Two forms:
 *
 * - positions: a mirror acknowledges (epoch, seq) only once the change and its chunks are
 *   committed and durable, and the primary then trims its outbox. So after a kill -9 of the
 *   mirror, the position it recovers to must be at least the last one the primary saw
 *   acknowledged; a mirror that acknowledged before its commit would come back below it, and
 *   the primary would never resend. A kill -9 keeps the page cache, so this alone cannot see a
 *   missing fsync: the power cuts (`test/chaos/power-cut.test.ts`) and the crash trials do.
 * - moments: at a checkpoint the workload pauses until the mirror holds the primary's tree and
 *   has acknowledged it, and records that state with the time. Whatever faults come later, the
 *   mirror's history must still give back every recorded state (`preview --at`), even those
 *   that later edits overwrote and that the final tree hash can no longer show.
 */
export class AckOracle {
  readonly #cluster: Cluster;
  readonly #volume: string;
  readonly #primary: string;
  readonly #mirror: string;
  readonly moments: AckedMoment[] = [];
  /** positionChecks counts mirror restarts whose recovered position was checked. */
  positionChecks = 0;

  constructor(cluster: Cluster, volume: string, primary: string, mirror: string) {
    this.#cluster = cluster;
    this.#volume = volume;
    this.#primary = primary;
    this.#mirror = mirror;
  }

  get #primaryNode(): TestNode {
    return this.#cluster.node(this.#primary);
  }

  get #mirrorNode(): TestNode {
    return this.#cluster.node(this.#mirror);
  }

  /** acked is the seq the primary has seen the mirror acknowledge. */
  async acked(): Promise<number> {
    const status = await this.#primaryNode.apiStatus();
    return ackedBy(status, this.#volume, this.#mirror);
  }

  /**
   * killMirror kills the mirror with SIGKILL (unless it is down already, say at a crash point),
   * waits until the primary no longer counts the link as up (so no acknowledgement is still on
   * its way), notes the acknowledged seq, restarts the mirror and checks that it recovered to
   * at least that seq.
   */
  async killMirror(): Promise<{ acked: number; recovered: number }> {
    const mirror = this.#mirrorNode;
    if (mirror.isRunning) await mirror.kill();
    await waitFor(
      async () => {
        const status = await this.#primaryNode.apiStatus();
        const link = findVolume(status, this.#volume, 'primary')?.mirrors?.find(
          (m) => m.node === this.#mirror,
        );
        return link?.link !== 'connected';
      },
      { timeoutMs: 60_000, what: `${this.#primary} to see the link to ${this.#mirror} down` },
    );
    return this.#restartMirror(await this.acked());
  }

  /**
   * killBoth kills both agents, then starts the primary first: the acknowledged seq it
   * recovers from its outbox is what the mirror must come back to.
   */
  async killBoth(): Promise<{ acked: number; recovered: number }> {
    const [primary, mirror] = [this.#primaryNode, this.#mirrorNode];
    await Promise.all([mirror.isRunning && mirror.kill(), primary.isRunning && primary.kill()]);
    await primary.startAgent();
    return this.#restartMirror(await this.acked());
  }

  async #restartMirror(acked: number): Promise<{ acked: number; recovered: number }> {
    const mirror = this.#mirrorNode;
    await mirror.startAgent();
    const recovered = findVolume(await mirror.apiStatus(), this.#volume, 'mirror')?.receivedSeq ?? 0;
    assert.ok(
      recovered >= acked,
      `${this.#mirror} acknowledged seq ${acked} but recovered to ${recovered}: acknowledged changes were lost`,
    );
    this.positionChecks++;
    return { acked, recovered };
  }

  /**
   * checkpoint waits until the mirror's view equals `src` and the primary has seen it
   * acknowledged, then records the state with the time. It waits a little longer than a
   * second on both sides, so no change of the workload shares the moment's instant.
   */
  async checkpoint(src: string, view: string, timeoutMs = 120_000): Promise<AckedMoment> {
    await waitConverged(src, view, { timeoutMs });
    await this.#cluster.waitCaughtUp(this.#volume, this.#primary, this.#mirror, { timeoutMs });
    await waitFor(
      async () => {
        const status = await this.#primaryNode.apiStatus();
        const p = findVolume(status, this.#volume, 'primary');
        return p?.lastSeq !== undefined && ackedBy(status, this.#volume, this.#mirror) >= p.lastSeq;
      },
      { timeoutMs, what: `${this.#mirror}'s acknowledgement of everything captured` },
    );
    await sleep(1100);
    const moment: AckedMoment = {
      at: Date.now(),
      seq: await this.acked(),
      hash: await treeHash(src),
      listing: await treeListing(src),
    };
    this.moments.push(moment);
    await sleep(1100);
    return moment;
  }

  /**
   * verifyMoments previews every recorded moment on the mirror into a fresh directory and
   * checks it against the state recorded there.
   */
  async verifyMoments(): Promise<void> {
    for (const [i, m] of this.moments.entries()) {
      const into = this.#cluster.dir(`ack-moment-${i}`);
      await this.#mirrorNode.cliOk(['preview', this.#volume, '--at', String(m.at), '--into', into], {
        timeoutMs: 120_000,
      });
      const got = await treeHash(into);
      if (got !== m.hash) {
        assert.fail(
          `acknowledged moment ${i} (seq ${m.seq}) is not in ${this.#mirror}'s history:\n` +
            diffListings(m.listing, await treeListing(into)),
        );
      }
    }
  }
}

/** AckedMoment is a state the mirror acknowledged, with the time it was recorded. */
export interface AckedMoment {
  at: number;
  seq: number;
  hash: string;
  listing: TreeRecord[];
}

function ackedBy(status: StatusJson, volume: string, mirror: string): number {
  return findVolume(status, volume, 'primary')?.mirrors?.find((m) => m.node === mirror)?.ackedSeq ?? 0;
}
