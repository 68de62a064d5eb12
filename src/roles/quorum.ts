import { type Clock, type EventSink, errorMessage, HindsightError, isHindsightError } from '../core/index.ts';
import { type Catalog, readMeta, writeMeta } from '../store/index.ts';
import type { Logger } from '../sys/index.ts';
import type { VolumeRow, Volumes } from '../volumes/index.ts';

/** QuorumDeps is what leases, votes and failover need from the agent. */
export interface QuorumDeps {
  self: string;
  catalog: Catalog;
  clock: Clock;
  events: EventSink;
  log: Logger;
  volumes: Volumes;
  /** Sends a request to `node` over this node's link to it; rejects when it cannot be reached. */
  request: (
    node: string,
    request: Record<string, unknown>,
    timeoutMs: number,
  ) => Promise<Record<string, unknown>>;
  /** This primary lost its lease: stop accepting and serving (and resume when it comes back). */
  fence: (volume: string, why: string) => Promise<void>;
  /** This primary holds its lease again, no newer epoch exists: capture and serve again. */
  unfence: (volume: string) => Promise<void>;
  /** Promote this mirror: the primary is gone and the witness agreed. */
  promote: (volume: string, why: string) => Promise<unknown>;
}

/** LEASE_LOST_REASON is what status says of a primary that fenced itself for want of a lease. */
const LEASE_LOST_REASON = 'quorum lost: neither the mirror nor the witness renewed the lease';

/**
 * VOTE_KEY persists, in the catalog's meta values, the epoch a witness voted for and the
 * candidate: it never grants an older primary a lease again.
 */
const VOTE_KEY = (volume: string) => `vote:${volume}`;

/** Grant is a lease this node gave the primary of a volume. */
interface Grant {
  primary: string;
  epoch: number;
  /** Monotonic ms: the lease holds until then. */
  until: number;
  /** Monotonic ms: when the primary was last heard asking. */
  heardAt: number;
}

/**
 * Quorum keeps the primary honest and lets the mirror take over only when it must
 * (docs/roles.md, "Leases and automatic failover"). For volumes with `failover: auto` and a
 * witness, three parties vote: primary, mirror, witness.
 *
 * - The **primary** asks the mirror and the witness for a lease every heartbeat. A grant from
 *   either keeps it valid for `timeoutMs` from the moment the request was sent. When it
 *   expires, the primary fences itself (stops capturing, runs on-demote, releases the address)
 *   and resumes once a grant comes back.
 * - A **mirror** grants while it follows that primary. When it has not heard from the primary
 *   for `timeoutMs`, it stops granting and asks the witness for its vote.
 * - The **witness** grants leases unless it voted for a newer epoch, and votes for the mirror
 *   only when it too has not heard from the primary for `timeoutMs`. It answers how long its
 *   last grant still runs; the vote is persisted before it is given.
 * - The mirror promotes once both its own and the witness's last grants have run out: by then
 *   the primary has fenced itself, so two primaries never accept writes at once.
 *
 * Without a witness the mirror never promotes on its own; it raises failover.no-quorum.
 */
export class Quorum {
  readonly #deps: QuorumDeps;
  /** Grants this node gave, by volume (as mirror or as witness). */
  readonly #grants = new Map<string, Grant>();
  /** Primary side: monotonic ms until which this node's lease holds, by volume. */
  readonly #leases = new Map<string, number>();
  /** When a voter last answered this primary's lease request (granted or not), by volume and node. */
  readonly #heardAt = new Map<string, number>();
  /** Mirror side: volumes for which a promotion is being sought (no more grants). */
  readonly #seeking = new Set<string>();
  /** Alerts raised once per episode, by volume and kind. */
  readonly #alerted = new Set<string>();
  #timer: (() => void) | null = null;
  #busy = false;
  /** Primary side: when this node last asked for a lease, by volume (monotonic ms). */
  readonly #lastAsked = new Map<string, number>();
  /** Volumes that held a lease since start: one not yet renewed after a restart is not "lost". */
  readonly #hadLease = new Set<string>();
  /** Mirror side: when this node began watching a volume's primary (monotonic ms). */
  readonly #watchStarted = new Map<string, number>();

  readonly #upSince: number;

  constructor(deps: QuorumDeps) {
    this.#deps = deps;
    this.#upSince = deps.clock.monotonic();
  }

  /** start runs the heartbeat loop: lease renewals (primary) and failure detection (mirror). */
  start(tickMs = 250): void {
    this.#timer ??= this.#deps.clock.every(tickMs, () => {
      if (this.#busy) return;
      this.#busy = true;
      this.#tick()
        .catch((err) => this.#deps.log.error('quorum tick failed', { err }))
        .finally(() => {
          this.#busy = false;
        });
    });
  }

  stop(): void {
    this.#timer?.();
    this.#timer = null;
  }

  /** leaseValid tells whether this primary may acknowledge changes of `volume` now. */
  leaseValid(volume: string): boolean {
    const v = this.#deps.volumes.get(volume);
    // Without a witness there is no quorum to lose: the primary never fences itself.
    if (!v || !isAuto(v) || !v.spec.roles.witness) return true;
    return (this.#leases.get(volume) ?? 0) > this.#deps.clock.monotonic();
  }

  /**
   * status says how the volume's failover stands on this node: the mode and witness; on a
   * primary how long its lease still holds; on a mirror how long the primary has been silent.
   */
  status(v: VolumeRow): {
    mode: 'manual' | 'auto';
    witness: string | null;
    leaseMs?: number;
    witnessSilentMs?: number | null;
    primarySilentMs?: number;
  } {
    const { failover, witness } = v.spec.roles;
    if (failover !== 'auto') return { mode: failover, witness };
    const now = this.#deps.clock.monotonic();
    if (v.role === 'primary') {
      const heard = witness ? this.#heardAt.get(`${v.name}\0${witness}`) : undefined;
      return {
        mode: failover,
        witness,
        leaseMs: Math.max(0, Math.round((this.#leases.get(v.name) ?? 0) - now)),
        witnessSilentMs: heard === undefined ? null : Math.round(now - heard),
      };
    }
    const heard = this.#grants.get(v.name)?.heardAt;
    return {
      mode: failover,
      witness,
      primarySilentMs: heard === undefined ? undefined : Math.round(now - heard),
    };
  }

  /** answer handles a lease or vote request from `peer`. */
  async answer(peer: string, req: Record<string, unknown>): Promise<Record<string, unknown>> {
    const volume = String(req.volume ?? '');
    const epoch = Number(req.epoch);
    const ms = Number(req.ms);
    if (!Number.isSafeInteger(epoch) || epoch < 1 || !Number.isSafeInteger(ms) || ms < 1 || ms > 3_600_000) {
      throw new HindsightError('E_QUORUM_REQUEST', 'a lease or vote needs an epoch and a time');
    }
    if (req.kind === 'lease') return this.#answerLease(peer, volume, epoch, ms);
    if (req.kind === 'vote') return this.#answerVote(peer, volume, epoch, ms);
    throw new HindsightError('E_QUORUM_REQUEST', `unknown request ${String(req.kind)}`);
  }

  #answerLease(peer: string, volume: string, epoch: number, ttlMs: number): Record<string, unknown> {
    const now = this.#deps.clock.monotonic();
    const v = this.#deps.volumes.get(volume);
    if (v) {
      // A node holding the volume grants only to the primary it follows, at its epoch.
      if (v.role !== 'mirror' || v.spec.primary.node !== peer || epoch < v.epoch) {
        return {
          granted: false,
          reason: `${this.#deps.self} holds ${volume} at epoch ${v.epoch} (${v.role})`,
        };
      }
      if (this.#seeking.has(volume)) return { granted: false, reason: 'the mirror is taking over' };
    } else {
      const voted = this.#votedEpoch(volume);
      if (epoch < voted) return { granted: false, reason: `the witness voted for epoch ${voted}` };
    }
    this.#grants.set(volume, { primary: peer, epoch, until: now + ttlMs, heardAt: now });
    return { granted: true };
  }

  #answerVote(peer: string, volume: string, epoch: number, timeoutMs: number): Record<string, unknown> {
    const now = this.#deps.clock.monotonic();
    if (now - this.#upSince < timeoutMs) {
      // Grants live in memory: a witness that just started cannot know the primary is silent.
      return { granted: false, reason: 'the witness started too recently to judge the primary' };
    }
    const grant = this.#grants.get(volume);
    if (grant && grant.primary !== peer && now - grant.heardAt < timeoutMs) {
      return {
        granted: false,
        reason: `the witness heard ${grant.primary} ${Math.round(now - grant.heardAt)} ms ago`,
      };
    }
    const voted = this.#votedEpoch(volume);
    const again = voted === epoch && this.#votedFor(volume) === peer; // its promotion failed; it tries again
    if (voted >= epoch && !again)
      return { granted: false, reason: `the witness already voted for epoch ${voted}` };
    writeMeta(this.#deps.catalog, VOTE_KEY(volume), `${epoch} ${peer}`);
    this.#deps.events.emit({
      level: 'warn',
      type: 'failover.voted',
      volume,
      peer,
      msg: `voted for ${peer} to take over at epoch ${epoch}`,
      data: { epoch, lastHeardMs: grant ? Math.round(now - grant.heardAt) : null },
    });
    return { granted: true, waitMs: grant ? Math.max(0, Math.ceil(grant.until - now)) : 0 };
  }

  #votedEpoch(volume: string): number {
    return Number(this.#vote(volume)?.[0] ?? 0);
  }

  #votedFor(volume: string): string | undefined {
    return this.#vote(volume)?.[1];
  }

  /** #vote reads the persisted vote: "EPOCH CANDIDATE". */
  #vote(volume: string): string[] | undefined {
    return readMeta(this.#deps.catalog, VOTE_KEY(volume))?.split(' ');
  }

  async #tick(): Promise<void> {
    for (const v of this.#deps.volumes.list()) {
      if (!isAuto(v)) continue;
      if (v.role === 'primary') {
        if (v.spec.roles.witness) await this.#renew(v);
      } else await this.#watch(v);
    }
  }

  /** #renew asks the mirrors and the witness for a lease; fences or unfences on the outcome. */
  async #renew(v: VolumeRow): Promise<void> {
    const { heartbeatMs, timeoutMs, witness } = v.spec.roles;
    const now = this.#deps.clock.monotonic();
    const last = this.#lastAsked.get(v.name) ?? 0;
    if (now - last >= heartbeatMs) {
      this.#lastAsked.set(v.name, now);
      const voters = [...v.spec.mirrors.map((m) => m.node), ...(witness ? [witness] : [])];
      for (const node of voters) {
        // Measured from before the request: the lease never outlives any grant behind it.
        const sentAt = this.#deps.clock.monotonic();
        this.#deps
          .request(node, { kind: 'lease', volume: v.name, epoch: v.epoch, ms: timeoutMs }, heartbeatMs)
          .then((reply) => {
            this.#heardAt.set(`${v.name}\0${node}`, this.#deps.clock.monotonic());
            if (reply.granted !== true) return;
            this.#leases.set(v.name, Math.max(this.#leases.get(v.name) ?? 0, sentAt + timeoutMs));
          })
          .catch(() => {});
      }
    }
    const fenced = v.stopCause === 'lease-lost';
    if (!fenced && v.state === 'active' && !this.leaseValid(v.name) && this.#hadLease.has(v.name)) {
      await this.#deps.fence(v.name, LEASE_LOST_REASON);
    } else if (fenced && this.leaseValid(v.name)) {
      await this.#deps.unfence(v.name);
    }
    if (this.leaseValid(v.name)) this.#hadLease.add(v.name);
  }

  /** #watch is the mirror's failure detector: primary silent past the timeout → ask the witness. */
  async #watch(v: VolumeRow): Promise<void> {
    const { timeoutMs, witness } = v.spec.roles;
    const now = this.#deps.clock.monotonic();
    const grant = this.#grants.get(v.name);
    const since = grant?.heardAt ?? this.#startedAt(v.name, now);
    if (now - since < timeoutMs) {
      for (const key of ['refused', 'no-quorum', 'unreachable', 'promote-failed'])
        this.#alerted.delete(`${v.name}:${key}`);
      return;
    }
    if (!witness) {
      this.#alertOnce(
        v.name,
        'no-quorum',
        'failover.no-quorum',
        'the primary is silent; without a witness this mirror does not promote itself',
        {
          silentMs: Math.round(now - since),
          hint: `promote by hand if the primary is gone: hindsight promote ${v.name}; or add a witness: hindsight volume set ${v.name} --witness NODE`,
        },
      );
      return;
    }
    this.#seeking.add(v.name);
    let reply: Record<string, unknown>;
    try {
      reply = await this.#deps.request(
        witness,
        { kind: 'vote', volume: v.name, epoch: v.epoch + 1, ms: timeoutMs },
        timeoutMs,
      );
    } catch (err) {
      this.#seeking.delete(v.name);
      this.#alertOnce(
        v.name,
        'unreachable',
        'failover.no-quorum',
        'the primary is silent and the witness cannot be reached',
        {
          error: errorMessage(err),
        },
      );
      return;
    }
    if (reply.granted !== true) {
      this.#seeking.delete(v.name);
      this.#alertOnce(
        v.name,
        'refused',
        'failover.refused',
        'the primary is silent here but the witness still hears it: no promotion',
        {
          reason: reply.reason,
        },
      );
      return;
    }
    // Both grants behind the primary's lease must run out: then it has fenced itself.
    const ownUntil = grant?.until ?? now;
    const waitUntil = Math.max(ownUntil, now + Number(reply.waitMs ?? 0)) + v.spec.roles.heartbeatMs;
    await this.#deps.clock.sleep(Math.max(0, waitUntil - this.#deps.clock.monotonic()));
    const why = `failover: ${v.spec.primary.node} silent for ${Math.round((this.#deps.clock.monotonic() - since) / 1000)} s; the witness ${witness} agreed`;
    try {
      await this.#deps.promote(v.name, why);
    } catch (err) {
      this.#alertOnce(v.name, 'promote-failed', 'failover.failed', 'automatic promotion failed', {
        error: errorMessage(err),
        hint: isHindsightError(err) ? err.hint : undefined,
      });
    } finally {
      this.#seeking.delete(v.name);
      this.#grants.delete(v.name);
    }
  }

  /** #startedAt is when this node began watching a volume: a fresh mirror waits a full timeout. */
  #startedAt(volume: string, now: number): number {
    if (!this.#watchStarted.has(volume)) this.#watchStarted.set(volume, now);
    return this.#watchStarted.get(volume)!;
  }

  #alertOnce(
    volume: string,
    key: string,
    type: 'failover.no-quorum' | 'failover.refused' | 'failover.failed',
    msg: string,
    data: Record<string, unknown>,
  ): void {
    const k = `${volume}:${key}`;
    if (this.#alerted.has(k)) return;
    this.#alerted.add(k);
    this.#deps.events.emit({ level: 'error', type, volume, msg, data });
  }
}

function isAuto(v: VolumeRow): boolean {
  return v.spec.roles.failover === 'auto';
}
