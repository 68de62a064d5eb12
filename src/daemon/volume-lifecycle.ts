import {
  type CaptureHealth,
  type CaptureSource,
  createCaptureSource,
  GlobFilter,
  type Outbox,
} from '../capture/index.ts';
import {
  type Clock,
  checkVolumeSpec,
  type EventSink,
  errorMessage,
  HindsightError,
  type VolumeInput,
  type VolumeSpec,
  volumeSpecFrom,
} from '../core/index.ts';
import type { Members, MirrorLink, NodeLinks } from '../link/index.ts';
import type { VolumeRunner } from '../roles/index.ts';
import type { Catalog, ChunkStore } from '../store/index.ts';
import { type Logger, type Scheduler, scheduleEvery } from '../sys/index.ts';
import type { MirrorSeed, MirrorViews } from '../timeline/index.ts';
import type { VolumeRow, Volumes } from '../volumes/index.ts';

/** SEED_CHECK_MS is how often a seeded mirror looks whether it may remove the seed's extras. */
const SEED_CHECK_MS = 1000;

/** VolumeLifecycleDeps is what running the volumes of a node takes. */
export interface VolumeLifecycleDeps {
  self: string;
  catalog: Catalog;
  store: ChunkStore;
  outbox: Outbox;
  events: EventSink;
  clock: Clock;
  log: Logger;
  volumes: Volumes;
  members: Members;
  links: NodeLinks;
  views: MirrorViews;
  seed: MirrorSeed;
  scheduler: Scheduler;
  /** Whether this primary may acknowledge changes of the volume now (its lease, docs/roles.md). */
  leaseValid: (volume: string) => boolean;
}

/**
 * VolumeLifecycle runs each volume of the node in the role its row says: a capture source and
 * the links to its mirrors on a primary, the views and their apply loops on a mirror. Role
 * changes start and stop volumes through it (it is their VolumeRunner); `add` defines a new one.
 */
export class VolumeLifecycle implements VolumeRunner {
  readonly #deps: VolumeLifecycleDeps;
  readonly #captures = new Map<string, CaptureSource>();

  constructor(deps: VolumeLifecycleDeps) {
    this.#deps = deps;
  }

  /** captureHealth is the capture's account of a primary volume running here, if it runs. */
  captureHealth(volume: string): CaptureHealth | undefined {
    return this.#captures.get(volume)?.health();
  }

  /** startAll starts every volume of the node. */
  startAll(): void {
    for (const v of this.#deps.volumes.list()) this.start(v);
  }

  /** start starts the volume in the role its row now says; a volume already running is left alone. */
  start(v: VolumeRow): void {
    const { self, links, views, events } = this.#deps;
    const witness = v.spec.roles.failover === 'auto' ? v.spec.roles.witness : null;
    if (witness && witness !== self) links.linkTo(witness); // leases and votes go over it
    // A fenced primary does not capture: it waits for the new primary to dial it, or (lease
    // lost) for a lease to come back.
    if (v.role === 'primary' && (v.stopCause === 'fenced' || v.stopCause === 'lease-lost')) return;
    if (v.role === 'mirror') {
      if (views.loop(v.name)) return;
      views
        .start(v)
        .then(() => this.#finishSeedWhenCaughtUp(v))
        .catch((err) => this.#stoppedEvent(v.name, 'views failed to start', err));
      return;
    }
    links.declare(v.spec);
    if (this.#captures.has(v.name)) return;
    const capture = createCaptureSource({
      catalog: this.#deps.catalog,
      store: this.#deps.store,
      outbox: this.#deps.outbox,
      events,
      clock: this.#deps.clock,
      log: this.#deps.log.child(`capture.${v.name}`),
      volume: v.name,
      spec: v.spec,
      root: v.path,
      mayAcknowledge: () => this.#deps.leaseValid(v.name),
    });
    capture.onAppended(() => links.wake(v.spec));
    // Declaring the volume again carries the root alert to the mirrors, which hold their delayed views.
    capture.onRootStop(() => links.declare(v.spec));
    this.#captures.set(v.name, capture);
    capture.start().catch((err) => this.#stoppedEvent(v.name, 'capture failed to start', err));
  }

  /**
   * stopCapture stops capturing a volume, after a last rescan when `flush` (every local change
   * then is in the outbox: to be drained by a switchover, or found as divergence). Streaming
   * goes on until the volume's role changes.
   */
  async stopCapture(volume: string, flush: boolean): Promise<void> {
    const capture = this.#captures.get(volume);
    this.#captures.delete(volume);
    if (capture) {
      if (flush)
        await capture.rescan().catch((err) => this.#deps.log.warn('last rescan failed', { volume, err }));
      await capture.stop();
    }
  }

  /** stop ends every capture and every apply loop (their current batches finish first). */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.#captures.values()].map((c) => c.stop()));
    await this.#deps.views.stop();
  }

  isPrimaryConnected(volume: string): boolean {
    return this.#deps.links.isPrimaryConnected(volume);
  }

  mirrorLink(node: string): MirrorLink | undefined {
    return this.#deps.links.mirrorLink(node);
  }

  dropStreams(volume: string): void {
    this.#deps.links.dropStreams(volume);
  }

  ackedSeq(volume: string, mirror: string): number {
    return this.#deps.links.ackedSeq(volume, mirror);
  }

  /** add defines a new volume whose primary is this node and starts protecting it. */
  async add(input: VolumeInput): Promise<VolumeSpec> {
    const { members, volumes, events, clock, self } = this.#deps;
    const spec = checkVolumeSpec(volumeSpecFrom(input, clock.now()));
    for (const m of spec.mirrors) {
      if (!members.addressOf(m.node)) {
        throw new HindsightError('E_VOLUME_UNKNOWN_NODE', `node ${m.node} is not known to ${self}`, {
          hint: `join ${m.node} to the cluster first ('hindsight invite' here, 'hindsight join TOKEN' there)`,
        });
      }
    }
    // Checked before the volume is stored: a bad glob must not leave a volume that cannot start.
    new GlobFilter(spec.include, spec.exclude);
    const row = await volumes.addPrimary(spec);
    events.emit({
      level: 'info',
      type: 'volume.added',
      volume: spec.name,
      msg: 'volume added',
      data: { role: 'primary' },
    });
    this.start(row);
    return spec;
  }

  /** #finishSeedWhenCaughtUp removes a seed's extras once the view caught up, with apply paused. */
  #finishSeedWhenCaughtUp(v: VolumeRow): void {
    const { views, seed, scheduler } = this.#deps;
    const loop = views.loop(v.name);
    const job = `seed:${v.name}`;
    if (!loop || seed.pendingHead(v.name) === null || scheduler.names().includes(job)) return;
    const filter = new GlobFilter(v.spec.include, v.spec.exclude);
    const cancel = scheduler.add(job, scheduleEvery(SEED_CHECK_MS), async () => {
      if (!seed.isCaughtUp(v.name, 'main')) return;
      await loop.stop();
      try {
        // What the globs exclude is not the volume's: the clean-up leaves it alone.
        const keep = (p: string, isDir: boolean) => !filter.isCapturedPath(p, isDir);
        if (await seed.finishIfCaughtUp(v.name, 'main', v.path, keep)) cancel();
      } finally {
        if (views.loop(v.name) === loop) loop.start();
      }
    });
  }

  #stoppedEvent(volume: string, msg: string, err: unknown): void {
    this.#deps.events.emit({
      level: 'error',
      type: 'volume.stopped',
      volume,
      msg,
      data: { error: errorMessage(err) },
    });
  }
}
