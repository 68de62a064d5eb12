import { promises as fsp } from 'node:fs';
import type { Server } from 'node:tls';
import { findRoute, type Route } from '../api/index.ts';
import { GlobFilter, Outbox, ROOT_REASON_PREFIX, VolumeCapture } from '../capture/index.ts';
import {
  type Clock,
  DEFAULT_GUARD,
  DEFAULT_HISTORY_MS,
  DEFAULT_ROLES,
  errorMessage,
  type GuardSpec,
  HindsightError,
  type HookName,
  isHindsightError,
  type VolumeSpec,
} from '../core/index.ts';
import {
  checkVolumeSpec,
  connectPeer,
  type JoinAnswer,
  type JoinRequest,
  linkErrorText,
  loadIdentity,
  MirrorLink,
  type NodeIdentity,
  type PeerConnection,
  type PeerConnectionFactory,
  PrimarySession,
  splitAddress,
  startPeerServer,
  type VolumeReceiveStats,
} from '../link/index.ts';
import { EventLog } from '../monitor/index.ts';
import { type Catalog, type ChunkStore, inTransaction, openCatalog, PackStore } from '../store/index.ts';
import { bootId, clockFromEnv, createLogger, type Logger, lockStateDir } from '../sys/index.ts';
import {
  type EpochRow,
  FunnelClock,
  readEpochs,
  receivedPosition,
  recordEpoch,
  recordVersions,
  replaceEpochs,
} from '../timeline/index.ts';
import { apiRoutes } from './api-routes.ts';
import { loadConfig, type NodeConfig, parseHostPort } from './config.ts';
import { Hooks } from './hooks.ts';
import { Invites } from './invites.ts';
import { MassChangeGuard } from './mass-change-guard.ts';
import { Members } from './members.ts';
import { MirrorSeed } from './mirror-seed.ts';
import { MirrorViews } from './mirror-views.ts';
import { PastViews } from './past-views.ts';
import { type StatePaths, statePaths } from './paths.ts';
import { QUORUM_PREFIX, Quorum } from './quorum.ts';
import { FENCED_PREFIX, Roles, SWITCHING_PREFIX } from './roles.ts';
import { ServiceRole } from './service-role.ts';
import { buildStatus, type StatusReport } from './status.ts';
import { missingVolume, type VolumeRow, Volumes } from './volumes.ts';

/** SEED_CHECK_MS is how often a seeded mirror looks whether it may remove the seed's extras. */
const SEED_CHECK_MS = 1000;
/**
 * RELAYED are the API paths another node may run here for `--on`: the funnel and the past of a
 * mirrored volume. Everything else (adding volumes, invites, roles) stays with the local CLI.
 */
const RELAYED =
  /^\/v1\/(status|volumes\/[^/]+\/(hold|resume|delay|rewind|discard|timeline|ls|preview|restore))$/;
/** How long a relay waits for the link to the node, and for its answer. */
const RELAY_CONNECT_MS = 10_000;
const RELAY_ANSWER_MS = 10 * 60_000;

/** DEFAULT_GC_INTERVAL_MS is how often history is pruned and unreferenced chunks are removed. */
const DEFAULT_GC_INTERVAL_MS = 10 * 60 * 1000;

/** RolesInput is what `hindsight volume set` changes; absent fields stay, a hook set to '' is removed. */
export interface RolesInput {
  failover?: 'manual' | 'auto';
  heartbeatMs?: number;
  timeoutMs?: number;
  address?: string | null;
  interface?: string | null;
  hooks?: Record<string, string>;
  hookTimeoutMs?: number;
  witness?: string | null;
}

/** VolumeInput is what `hindsight volume add` asks for. */
export interface VolumeInput {
  name: string;
  path: string;
  primary: string;
  mirrors: {
    node: string;
    path: string;
    delayMs?: number;
    views?: { name: string; path: string; delayMs: number }[];
  }[];
  include?: string[];
  exclude?: string[];
  historyMs?: number;
  guard?: Partial<GuardSpec>;
}

/**
 * Agent is the composition root of a node: it builds every stage from the state directory,
 * supervises the loops (capture per primary volume, a link per mirror node, apply per mirrored
 * volume), and shuts them down cleanly. Only this folder constructs concrete adapters.
 */
export class Agent {
  readonly config: NodeConfig;
  readonly paths: StatePaths;
  readonly clock: Clock;
  readonly log: Logger;
  readonly catalog: Catalog;
  readonly store: ChunkStore;
  readonly events: EventLog;
  readonly volumes: Volumes;
  readonly members: Members;
  readonly outbox: Outbox;
  readonly identity: NodeIdentity;
  readonly invites: Invites;
  readonly captures = new Map<string, VolumeCapture>();
  readonly funnel: FunnelClock;
  readonly mirrorViews: MirrorViews;
  readonly past: PastViews;
  readonly roles: Roles;
  readonly hooks: Hooks;
  readonly service: ServiceRole;
  readonly quorum: Quorum;
  readonly guard: MassChangeGuard;
  readonly links = new Map<string, MirrorLink>();
  readonly sessions = new Map<string, PrimarySession>();
  readonly receiveStats = new Map<string, VolumeReceiveStats>();
  readonly seed: MirrorSeed;
  #peerServer: Server | null = null;
  #timers: (() => void)[] = [];
  #unlock: () => Promise<void>;
  #startedAt: number;

  private constructor(parts: {
    config: NodeConfig;
    paths: StatePaths;
    clock: Clock;
    log: Logger;
    catalog: Catalog;
    store: ChunkStore;
    events: EventLog;
    identity: NodeIdentity;
    unlock: () => Promise<void>;
  }) {
    this.config = parts.config;
    this.paths = parts.paths;
    this.clock = parts.clock;
    this.log = parts.log;
    this.catalog = parts.catalog;
    this.store = parts.store;
    this.identity = parts.identity;
    this.#unlock = parts.unlock;
    this.#startedAt = parts.clock.now();
    this.events = parts.events;
    this.volumes = new Volumes(this.catalog, this.config.name, this.paths.dir);
    this.members = new Members(this.catalog, this.config.name);
    this.outbox = new Outbox(this.catalog);
    this.seed = new MirrorSeed({
      catalog: this.catalog,
      store: this.store,
      events: this.events,
      log: this.log.child('seed'),
    });
    this.funnel = new FunnelClock(this.catalog, this.clock, bootId());
    this.guard = new MassChangeGuard({
      catalog: this.catalog,
      events: this.events,
      log: this.log.child('guard'),
      clock: this.clock,
      funnel: this.funnel,
      volumes: this.volumes,
    });
    this.mirrorViews = new MirrorViews({
      self: this.config.name,
      catalog: this.catalog,
      store: this.store,
      events: this.events,
      log: this.log.child('views'),
      clock: this.clock,
      funnel: this.funnel,
      volumes: this.volumes,
      seed: this.seed,
      onResume: (volume) => this.guard.reset(volume),
    });
    this.quorum = new Quorum({
      self: this.config.name,
      catalog: this.catalog,
      clock: this.clock,
      events: this.events,
      log: this.log.child('quorum'),
      volumes: this.volumes,
      request: (node, req, timeoutMs) => this.#linkTo(node).request(req, timeoutMs),
      fence: (volume, why) => this.roles.fenceQuorum(volume, why),
      unfence: (volume) => this.roles.unfence(volume),
      promote: (volume, why) => {
        // A view held by the mass-change guard holds something suspect: a person decides.
        const held = this.mirrorViews.views(volume).find((r) => r.held && r.holdReason === 'guard');
        if (held) {
          throw new HindsightError(
            'E_PROMOTE_GUARD',
            `the mass-change guard holds view ${held.name} of ${volume}`,
            {
              hint: `look with hindsight timeline ${volume}; then promote by hand at a moment before it: hindsight promote ${volume} --at T`,
            },
          );
        }
        return this.roles.promote(volume, { force: true, reason: why });
      },
    });
    this.past = new PastViews({
      catalog: this.catalog,
      store: this.store,
      events: this.events,
      log: this.log.child('past'),
      volumes: this.volumes,
      mirror: this.mirrorViews,
    });
    this.hooks = new Hooks({
      self: this.config.name,
      volumes: this.volumes,
      events: this.events,
      log: this.log.child('hooks'),
    });
    this.service = new ServiceRole({
      volumes: this.volumes,
      hooks: this.hooks,
      events: this.events,
      log: this.log.child('service'),
    });
    this.roles = new Roles({
      self: this.config.name,
      catalog: this.catalog,
      store: this.store,
      events: this.events,
      log: this.log.child('roles'),
      clock: this.clock,
      volumes: this.volumes,
      mirrorViews: this.mirrorViews,
      seed: this.seed,
      primaryConnected: (volume) => {
        const primary = this.volumes.get(volume)?.spec.primary.node;
        const c = primary === undefined ? undefined : this.sessionConnection(primary);
        return c !== undefined && c !== null && !c.isClosed;
      },
      stopCapture: (volume, flush) => this.#stopCapture(volume, flush),
      startVolume: (row) => this.#startVolume(row),
      linkTo: (node) => this.links.get(node),
      dropStreams: (volume) => {
        for (const link of this.links.values()) link.dropVolume(volume);
      },
      lastSeq: (volume) => this.outbox.lastSeq(volume),
      ackedSeq: (volume, mirror) => this.links.get(mirror)?.volumeStats.get(volume)?.ackedSeq ?? 0,
      hooks: this.hooks,
      service: this.service,
    });
    this.invites = new Invites({
      catalog: this.catalog,
      clock: this.clock,
      identity: this.identity,
      stateDir: this.paths.dir,
      members: this.members,
      events: this.events,
      listen: this.config.advertise,
    });
  }

  /** open loads the node's state and locks the state directory; `start` then runs it. */
  static async open(stateDir: string, options: { clock?: Clock; log?: Logger } = {}): Promise<Agent> {
    const paths = statePaths(stateDir);
    const config = await loadConfig(paths.config);
    gcInterval(); // a bad value is refused before anything starts
    const unlock = await lockStateDir(paths.dir);
    try {
      const identity = await loadIdentity(paths.identity);
      if (identity.name !== config.name) {
        throw new HindsightError(
          'E_CONFIG_INVALID',
          `config names node ${config.name}, the certificate ${identity.name}`,
        );
      }
      const clock = options.clock ?? clockFromEnv();
      const log = options.log ?? createLogger('agent');
      await fsp.mkdir(paths.packs, { recursive: true, mode: 0o700 });
      const catalog = openCatalog(paths.catalog);
      const events = new EventLog({ catalog, clock, log: log.child('event') });
      const store = new PackStore({
        dir: paths.packs,
        catalog,
        onFailed: (err) => reportStoreFailed(events, err),
      });
      return new Agent({ config, paths, clock, log, catalog, store, events, identity, unlock });
    } catch (err) {
      await unlock();
      throw err;
    }
  }

  /** start listens on the peer port and starts every loop. */
  async start(): Promise<void> {
    const { host, port } = parseHostPort(this.config.listen, 'listen');
    this.#peerServer = await startPeerServer(host, port, {
      identity: this.identity,
      clock: this.clock,
      events: this.events,
      log: this.log.child('peer'),
      onNodeLink: (factory) => this.#onNodeLink(factory),
      onJoin: (req: JoinRequest): Promise<JoinAnswer> => this.invites.answer(req),
    });
    await this.roles.resumePromotions();
    for (const v of this.volumes.list()) {
      // A switchover that stopped midway (this node died before its mirror answered): this
      // node is still the primary; if the mirror did take over, its epoch fences this one.
      if (v.role === 'primary' && v.reason?.startsWith(SWITCHING_PREFIX))
        this.volumes.setState(v.name, 'active', null);
    }
    for (const v of this.volumes.list()) this.#startVolume(v);
    this.quorum.start();
    this.#timers.push(
      this.clock.every(gcInterval(), () => {
        this.mirrorViews.collect().catch(() => {}); // reported as gc.failed by collect
      }),
    );
    this.events.emit({
      level: 'info',
      type: 'agent.started',
      msg: 'agent started',
      data: { node: this.config.name },
    });
  }

  /** stop ends every loop, closes links and the catalog, and releases the state directory. */
  async stop(): Promise<void> {
    this.events.emit({ level: 'info', type: 'agent.stopping', msg: 'agent stopping' });
    this.#peerServer?.close();
    this.quorum.stop();
    for (const stop of this.#timers) stop();
    // Links from primaries first: an open socket keeps the process alive, and a batch in
    // progress must finish before the catalog closes.
    await Promise.allSettled([...this.sessions.values()].map((s) => s.close()));
    await Promise.allSettled([...this.captures.values()].map((c) => c.stop()));
    await Promise.allSettled([...this.links.values()].map((l) => l.stop()));
    await this.mirrorViews.stop();
    await this.store.close().catch((err) => this.log.error('store close failed', { err }));
    this.catalog.close();
    await this.#unlock();
  }

  /** peerAddress is where the peer listener is bound. */
  peerAddress(): string {
    const addr = this.#peerServer?.address();
    return addr && typeof addr === 'object' ? `${addr.address}:${addr.port}` : this.config.listen;
  }

  /** addVolume defines a new volume whose primary is this node and starts protecting it. */
  async addVolume(input: VolumeInput): Promise<VolumeSpec> {
    const spec: VolumeSpec = {
      name: input.name,
      kind: 'files',
      primary: { node: input.primary, path: input.path },
      mirrors: input.mirrors.map((m) => ({
        node: m.node,
        path: m.path,
        delayMs: m.delayMs ?? 0,
        views: m.views ?? [],
      })),
      include: input.include ?? [],
      exclude: input.exclude ?? [],
      historyMs: input.historyMs ?? DEFAULT_HISTORY_MS,
      guard: { ...DEFAULT_GUARD, ...input.guard },
      roles: { ...DEFAULT_ROLES, hooks: {} },
      createdAt: this.clock.now(),
    };
    checkVolumeSpec(spec);
    for (const m of spec.mirrors) {
      if (!this.members.addressOf(m.node)) {
        throw new HindsightError(
          'E_VOLUME_UNKNOWN_NODE',
          `node ${m.node} is not known to ${this.config.name}`,
          {
            hint: `join ${m.node} to the cluster first ('hindsight invite' here, 'hindsight join TOKEN' there)`,
          },
        );
      }
    }
    // Checked before the volume is stored: a bad glob must not leave a volume that cannot start.
    new GlobFilter(spec.include, spec.exclude);
    const row = await this.volumes.addPrimary(spec);
    recordEpoch(this.catalog, spec.name, {
      epoch: 1,
      firstSeq: 1,
      node: this.config.name,
      at: spec.createdAt,
      reason: 'created',
    });
    this.events.emit({
      level: 'info',
      type: 'volume.added',
      volume: spec.name,
      msg: 'volume added',
      data: { role: 'primary' },
    });
    this.#startVolume(row);
    return spec;
  }

  /**
   * setRoles changes how the volume's roles change (failover, heartbeat, timeout, service
   * address, hooks), on its primary; the mirrors learn the new spec at once. An address
   * change moves the address this node holds.
   */
  setRoles(name: string, input: RolesInput): VolumeSpec {
    const v = this.volumes.get(name);
    if (!v) throw missingVolume(name);
    if (v.role !== 'primary') {
      throw new HindsightError(
        'E_VOLUME_NOT_PRIMARY',
        `volume ${name} is changed on its primary, ${v.spec.primary.node}`,
      );
    }
    const hooks = { ...v.spec.roles.hooks, ...input.hooks };
    for (const [k, path] of Object.entries(hooks)) if (path === '') delete hooks[k as HookName];
    const roles = {
      ...v.spec.roles,
      ...Object.fromEntries(Object.entries(input).filter(([k, x]) => x !== undefined && k !== 'hooks')),
      hooks,
    };
    const spec = checkVolumeSpec({ ...v.spec, roles });
    this.volumes.setSpec(name, spec);
    for (const m of spec.mirrors) this.links.get(m.node)?.addVolume(spec);
    if (v.state === 'active') {
      this.service
        .moveAddress(name, v.spec.roles, spec.roles)
        .catch((err) => this.log.error('moving the service address failed', { volume: name, err }));
    }
    this.events.emit({
      level: 'info',
      type: 'volume.changed',
      volume: name,
      msg: 'volume roles changed',
      data: { roles: spec.roles },
    });
    return spec;
  }

  /** status reports every volume, link and peer of this node. */
  status(): StatusReport {
    return buildStatus(this);
  }

  #startVolume(v: VolumeRow): void {
    const witness = v.spec.roles.failover === 'auto' ? v.spec.roles.witness : null;
    if (witness && witness !== this.config.name) this.#linkTo(witness); // leases and votes go over it
    // A fenced primary does not capture: it waits for the new primary to dial it, or (quorum
    // lost) for a lease to come back.
    const fenced = v.reason?.startsWith(FENCED_PREFIX) || v.reason?.startsWith(QUORUM_PREFIX);
    if (v.role === 'primary' && v.state === 'stopped' && fenced) return;
    if (v.role === 'primary') {
      for (const m of v.spec.mirrors) this.#linkTo(m.node).addVolume(v.spec);
      if (this.captures.has(v.name)) return;
      const capture = new VolumeCapture({
        catalog: this.catalog,
        store: this.store,
        outbox: this.outbox,
        events: this.events,
        clock: this.clock,
        log: this.log.child(`capture.${v.name}`),
        volume: v.name,
        root: v.path,
        include: v.spec.include,
        exclude: v.spec.exclude,
        mayAcknowledge: () => this.quorum.leaseValid(v.name),
      });
      capture.onAppended(() => {
        for (const m of v.spec.mirrors) this.links.get(m.node)?.wake(v.name);
      });
      // Declaring the volume again carries the root alert to the mirrors, which hold their delayed views.
      capture.onRootStop(() => {
        for (const m of v.spec.mirrors) this.links.get(m.node)?.addVolume(v.spec);
      });
      this.captures.set(v.name, capture);
      capture.start().catch((err) => {
        this.events.emit({
          level: 'error',
          type: 'volume.stopped',
          volume: v.name,
          msg: 'capture failed to start',
          data: { error: errorMessage(err) },
        });
      });
    } else {
      if (this.mirrorViews.loop(v.name)) return;
      this.mirrorViews
        .start(v)
        .then(() => this.#finishSeedWhenCaughtUp(v))
        .catch((err) => {
          this.events.emit({
            level: 'error',
            type: 'volume.stopped',
            volume: v.name,
            msg: 'views failed to start',
            data: { error: errorMessage(err) },
          });
        });
    }
  }

  /**
   * #stopCapture stops capturing a volume, after a last rescan when `flush` (every local change
   * then is in the outbox: to be drained by a switchover, or found as divergence). Streaming
   * goes on until the volume's role changes (#startVolume, demotion).
   */
  async #stopCapture(volume: string, flush: boolean): Promise<void> {
    const capture = this.captures.get(volume);
    this.captures.delete(volume);
    if (capture) {
      if (flush) await capture.rescan().catch((err) => this.log.warn('last rescan failed', { volume, err }));
      await capture.stop();
    }
  }

  /**
   * relay runs an API request on another node of the cluster, over the peer link: what
   * `--on NODE` of the CLI uses. Only the routes in RELAYED may be relayed.
   */
  async relay(node: string, method: string, path: string, body: unknown): Promise<unknown> {
    if (node === this.config.name) throw new HindsightError('E_USAGE', 'that is this node: no relay needed');
    if (!this.members.addressOf(node)) {
      throw new HindsightError('E_LINK_UNKNOWN_NODE', `no node named ${node} in this cluster`);
    }
    const link = this.#linkTo(node);
    await link.waitConnected(RELAY_CONNECT_MS);
    const reply = await link.request({ kind: 'api', method, path, body }, RELAY_ANSWER_MS);
    const e = reply.error as { code?: string; message?: string; hint?: string } | string | undefined;
    if (e !== undefined) {
      if (typeof e === 'string') throw new HindsightError('E_RELAY', e);
      throw new HindsightError(String(e.code ?? 'E_RELAY'), `${node}: ${e.message}`, { hint: e.hint });
    }
    return reply.answer;
  }

  /** #relayed answers a relayed API request from `peer` (see relay). */
  async #relayed(peer: string, req: Record<string, unknown>): Promise<Record<string, unknown>> {
    try {
      const method = String(req.method);
      const url = new URL(String(req.path), 'http://relay');
      if (!RELAYED.test(url.pathname)) {
        throw new HindsightError('E_RELAY_REFUSED', `${url.pathname} is not relayed between nodes`);
      }
      this.#routes ??= apiRoutes(this);
      const found = findRoute(this.#routes, method, url.pathname);
      if (!found) throw new HindsightError('E_API_NOT_FOUND', `no route ${method} ${url.pathname}`);
      this.log.info('relayed request', { peer, method, path: url.pathname });
      const answer = await found.route.handler({
        params: found.params,
        query: url.searchParams,
        body: req.body,
        signal: AbortSignal.timeout(RELAY_ANSWER_MS),
      });
      return { answer };
    } catch (err) {
      return {
        error: {
          code: isHindsightError(err) ? err.code : 'E_RELAY',
          message: errorMessage(err),
          hint: isHindsightError(err) ? err.hint : undefined,
        },
      };
    }
  }

  #routes: Route[] | undefined;

  /** #takeOver promotes this mirror at `seq` because its primary `from` asked (switchover). */
  async #takeOver(volume: string, from: string, epoch: number, seq: number): Promise<{ epoch: number }> {
    const v = this.volumes.get(volume);
    if (v?.role !== 'mirror' || v.spec.primary.node !== from || v.epoch !== epoch) {
      throw new HindsightError(
        'E_SWITCHOVER_NOT_MIRROR',
        `${this.config.name} does not mirror ${volume} of ${from}`,
      );
    }
    const done = await this.roles.promote(volume, { seq, force: true, reason: `switchover from ${from}` });
    return { epoch: done.epoch };
  }

  /** #acceptMirror takes a volume declared by its primary: checks, records, seeds and starts it. */
  async #acceptMirror(
    spec: VolumeSpec,
    from: string,
    epoch: number,
    head: number,
    epochs: EpochRow[] | null,
  ) {
    const existing = this.volumes.get(spec.name);
    let needsSeed = false;
    if (existing?.role === 'primary' && epoch > existing.epoch && spec.primary.node === from) {
      const { clean } = await this.roles.demote(spec.name, {
        epoch,
        spec,
        epochs: epochs ?? [{ epoch, firstSeq: 1, node: from, at: 0, reason: 'unknown' }],
      });
      needsSeed = !clean;
    }
    const held = this.volumes.get(spec.name)?.epoch ?? 1;
    if (epoch < held) {
      throw new HindsightError(
        'E_LINK_STALE_EPOCH',
        `${from} declares ${spec.name} at epoch ${epoch}; this node is at ${held}`,
        {
          hint: 'the sender is a demoted primary; it must rejoin as a mirror',
        },
      );
    }
    const isNew = !this.volumes.get(spec.name);
    const row = await this.volumes.acceptMirror(spec, from);
    if (isNew || epoch > row.epoch) {
      // A mirror follows the epoch history of its primary.
      inTransaction(this.catalog, () => {
        if (epochs) replaceEpochs(this.catalog, spec.name, epochs);
        this.catalog.prepare('UPDATE volumes SET epoch = ? WHERE name = ?').run(epoch, spec.name);
      });
    }
    if (needsSeed) await this.seed.seedIfNeeded(spec.name, row.path, head);
    if (isNew) {
      this.events.emit({
        level: 'info',
        type: 'volume.added',
        volume: spec.name,
        peer: from,
        msg: 'volume added',
        data: { role: 'mirror', path: row.path },
      });
      await this.seed.seedIfNeeded(spec.name, row.path, head);
    }
    this.#startVolume(row);
    const pos = receivedPosition(this.catalog, spec.name);
    return { epoch: pos?.epoch ?? row.epoch, seq: pos?.seq ?? 0 };
  }

  /** #finishSeedWhenCaughtUp removes a seed's extras once the view caught up, with apply paused. */
  #finishSeedWhenCaughtUp(v: VolumeRow): void {
    const loop = this.mirrorViews.loop(v.name);
    if (!loop || this.seed.pendingHead(v.name) === null) return;
    const filter = new GlobFilter(v.spec.include, v.spec.exclude);
    let busy = false;
    const stop = this.clock.every(SEED_CHECK_MS, () => {
      if (busy || !this.seed.isCaughtUp(v.name, 'main')) return;
      busy = true;
      loop
        .stop()
        // What the globs exclude is not the volume's: the clean-up leaves it alone.
        .then(() =>
          this.seed.finishIfCaughtUp(v.name, 'main', v.path, (p, isDir) => !filter.isCapturedPath(p, isDir)),
        )
        .then((done) => {
          if (done) stop();
        })
        .finally(() => {
          busy = false;
          if (this.mirrorViews.loop(v.name) === loop) loop.start();
        });
    });
    this.#timers.push(stop);
  }

  #linkTo(peer: string): MirrorLink {
    let link = this.links.get(peer);
    if (link) return link;
    link = new MirrorLink(peer, {
      self: this.config.name,
      clock: this.clock,
      events: this.events,
      log: this.log.child(`link.${peer}`),
      store: this.store,
      outbox: this.outbox,
      dial: async (name, signal) => {
        const address = this.members.addressOf(name);
        if (!address) throw new HindsightError('E_LINK_UNKNOWN_NODE', `no address known for node ${name}`);
        const { host, port } = splitAddress(address);
        return connectPeer({
          host,
          port,
          identity: this.identity,
          expectName: name,
          signal,
          clock: this.clock,
        });
      },
      volumesFor: (name) => this.volumes.specsMirroredBy(name),
      epochOf: (volume) => this.volumes.get(volume)?.epoch ?? 1,
      epochsOf: (volume) => readEpochs(this.catalog, volume),
      onReady: (volume) => {
        const v = this.volumes.get(volume);
        if (v?.role === 'primary' && v.state === 'active') {
          this.service.serve(volume).catch((err) => this.log.error('serving failed', { volume, err }));
        }
      },
      onStaleEpoch: (volume, epoch, peer) => {
        this.roles
          .fence(volume, epoch, peer)
          .catch((err) => this.log.error('fencing failed', { volume, err }));
      },
      rootAlertOf: (volume) => {
        const row = this.volumes.get(volume);
        return row?.state === 'stopped' && row.reason?.startsWith(ROOT_REASON_PREFIX) ? row.reason : null;
      },
      members: () => this.#membersWithSelf(),
      mergeMembers: (list) => this.members.merge(list),
    });
    this.links.set(peer, link);
    link.start();
    return link;
  }

  /** #onNodeLink serves a link from a primary: the mirror side of its volumes. */
  #onNodeLink(factory: PeerConnectionFactory): void {
    const session = new PrimarySession(
      factory.peer,
      {
        self: this.config.name,
        clock: this.clock,
        catalog: this.catalog,
        store: this.store,
        events: this.events,
        log: this.log.child(`receive.${factory.peer}`),
        acceptVolume: (spec, from, epoch, head, epochs) =>
          this.#acceptMirror(spec, from, epoch, head, epochs),
        recordVersions: (changes, receivedAt, from) => {
          const offset = this.sessionConnection(from)?.stats.clockOffsetMs ?? 0;
          const receipt = { wallMs: receivedAt, funnelMs: this.funnel.now(), clockOffsetMs: offset };
          const counts = recordVersions(this.catalog, changes, receipt, from);
          if (changes.length > 0) this.guard.onRecorded(changes[0].volume, counts);
        },
        epochOf: (volume) => this.volumes.get(volume)?.epoch ?? 1,
        epochsOf: (volume) => readEpochs(this.catalog, volume),
        onSwitchover: (volume, from, epoch, seq) => this.#takeOver(volume, from, epoch, seq),
        onRequest: (peer, req) =>
          req.kind === 'api' ? this.#relayed(peer, req) : this.quorum.answer(peer, req),
        onVersions: (volume) => this.mirrorViews.wake(volume),
        onRootAlert: (volume, reason) =>
          this.guard.trip(volume, 'the primary cannot trust its root', { primaryReason: reason }),
        members: () => this.#membersWithSelf(),
        mergeMembers: (list) => this.members.merge(list),
      },
      this.receiveStats,
    );
    const conn = factory.connect((frame) => session.onFrame(frame));
    session.attach(conn);
    this.sessions.set(factory.peer, session);
    this.#sessionConns.set(factory.peer, conn);
    conn.closed.then((err) => {
      if (this.#sessionConns.get(factory.peer) === conn) this.#sessionConns.delete(factory.peer);
      this.events.emit({
        level: err ? 'warn' : 'info',
        type: 'link.disconnected',
        peer: factory.peer,
        msg: 'link from primary ended',
        data: { error: err ? linkErrorText(err) : 'closed' },
      });
    });
  }

  readonly #sessionConns = new Map<string, PeerConnection>();

  /** sessionConnection returns the live link from primary `peer`, if any. */
  sessionConnection(peer: string): PeerConnection | undefined {
    return this.#sessionConns.get(peer);
  }

  /** startedAt is when this agent started (wall clock). */
  get startedAt(): number {
    return this.#startedAt;
  }

  #membersWithSelf() {
    return [
      ...this.members.list(),
      { name: this.config.name, address: this.config.advertise, updatedAt: this.#startedAt },
    ];
  }
}

/**
 * gcInterval is the garbage collection period: HINDSIGHT_GC_INTERVAL_MS (at least 1,000) or
 * DEFAULT_GC_INTERVAL_MS. A value that is not a number is refused at start, not run every ms.
 */
function gcInterval(): number {
  const text = process.env.HINDSIGHT_GC_INTERVAL_MS;
  if (text === undefined || text === '') return DEFAULT_GC_INTERVAL_MS;
  const ms = Number(text);
  if (!Number.isSafeInteger(ms) || ms < 1000) {
    throw new HindsightError(
      'E_CONFIG_INVALID',
      `HINDSIGHT_GC_INTERVAL_MS=${text} is not a number of ms ≥ 1000`,
      {
        hint: 'unset it for the default (10 minutes), or give e.g. 600000',
      },
    );
  }
  return ms;
}

/**
 * reportStoreFailed raises the alert of a chunk store that refuses writes after a failed fsync:
 * from then on this node acknowledges nothing and captures nothing until it is restarted.
 */
function reportStoreFailed(events: EventLog, err: HindsightError): void {
  events.emit({
    level: 'error',
    type: 'store.failed',
    msg: 'chunk store failed: writes refused until restart',
    data: {
      code: err.code,
      errno: (err.cause as NodeJS.ErrnoException | undefined)?.code ?? null,
      error: errorMessage(err.cause ?? err),
      hint: err.hint,
    },
  });
}
