import { Relay, type Route, type StatusReport } from '../api/index.ts';
import { BackupPlans, Backups, BackupTables } from '../backup/index.ts';
import { FileRowWriter, Outbox } from '../capture/index.ts';
import type { Clock } from '../core/index.ts';
import { fingerprintOf, Invites, Members, type NodeIdentity, NodeLinks } from '../link/index.ts';
import type { EventLog } from '../monitor/index.ts';
import {
  Demotion,
  Divergence,
  Hooks,
  MirrorAdmission,
  Promotion,
  Quorum,
  type RoleContext,
  ServiceRole,
  Switchover,
} from '../roles/index.ts';
import type { Catalog, ChunkStore } from '../store/index.ts';
import { bootId, KeyedSerialQueue, type Logger, Scheduler } from '../sys/index.ts';
import {
  FunnelClock,
  GarbageCollector,
  MassChangeGuard,
  MirrorSeed,
  MirrorViews,
  PastViews,
  quarantineChunks,
  recordVersions,
  versionChunks,
} from '../timeline/index.ts';
import { Volumes } from '../volumes/index.ts';
import type { NodeConfig } from './config.ts';
import { buildMonitor, type Monitor } from './monitor-wiring.ts';
import type { StatePaths } from './paths.ts';
import { VolumeLifecycle } from './volume-lifecycle.ts';

/** NodeBase is what an agent opens before it builds its stages: the node and its state. */
export interface NodeBase {
  config: NodeConfig;
  paths: StatePaths;
  clock: Clock;
  log: Logger;
  catalog: Catalog;
  store: ChunkStore;
  events: EventLog;
  identity: NodeIdentity;
  startedAt: number;
}

/** Stages are the parts of a running node, each built once from the base. */
export interface Stages {
  volumes: Volumes;
  members: Members;
  invites: Invites;
  outbox: Outbox;
  links: NodeLinks;
  views: MirrorViews;
  past: PastViews;
  gc: GarbageCollector;
  lifecycle: VolumeLifecycle;
  backups: Backups;
  backupPlans: BackupPlans;
  promotion: Promotion;
  demotion: Demotion;
  switchover: Switchover;
  divergence: Divergence;
  quorum: Quorum;
  relay: Relay;
  scheduler: Scheduler;
  roles: RoleContext;
  monitor: Monitor;
}

/**
 * buildStages is the composition of a node: it builds every stage, concrete adapters included,
 * and hands each the narrow calls it needs of the others. The links and the roles need each
 * other (a link delivers a switchover, a promotion starts links), so a few calls are bound late:
 * they reach stages built further down, and run only once the agent has started.
 */
export function buildStages(base: NodeBase, routes: () => Route[], status: () => StatusReport): Stages {
  const { config, clock, log, catalog, store, events } = base;
  const self = config.name;
  const volumes = new Volumes(catalog, self, base.paths.dir);
  const members = new Members(catalog, self);
  const outbox = new Outbox(catalog);
  const scheduler = new Scheduler({ clock, log: log.child('scheduler') });
  const seed = new MirrorSeed({ catalog, store, events, log: log.child('seed') });
  const funnel = new FunnelClock(catalog, clock, bootId());
  const guard = new MassChangeGuard({ catalog, events, log: log.child('guard'), clock, funnel, volumes });
  const views = new MirrorViews({
    self,
    catalog,
    store,
    events,
    log: log.child('views'),
    clock,
    funnel,
    volumes,
    onResume: (volume) => guard.reset(volume),
  });
  const past = new PastViews({ catalog, store, events, log: log.child('past'), volumes, mirror: views });
  const gc = new GarbageCollector({
    catalog,
    store,
    events,
    log: log.child('gc'),
    clock,
    volumes,
    seed,
    references: [outbox, versionChunks(catalog), quarantineChunks(catalog)],
    exclusively: (fn) => views.exclusively(fn),
  });
  const hooks = new Hooks({ self, clock, volumes, events, log: log.child('hooks') });
  const service = new ServiceRole({ volumes, hooks, events, log: log.child('service') });
  const links: NodeLinks = new NodeLinks({
    self,
    advertise: config.advertise,
    startedAt: base.startedAt,
    identity: base.identity,
    clock,
    events,
    log,
    catalog,
    store,
    outbox,
    volumes,
    members,
    mirror: {
      accept: (spec, from, epoch, head, epochs) => admission.accept(spec, from, epoch, head, epochs),
      record: (changes, receivedAt, from, clockOffsetMs) => {
        const receipt = { wallMs: receivedAt, funnelMs: funnel.now(), clockOffsetMs };
        const counts = recordVersions(catalog, changes, receipt, from);
        if (changes.length > 0) guard.onRecorded(changes[0].volume, counts);
      },
      recorded: (volume) => views.wake(volume),
      rootAlert: (volume, reason) =>
        guard.trip(volume, 'the primary cannot trust its root', { primaryReason: reason }),
      takeOver: (volume, from, epoch, seq) => switchover.takeOver(volume, from, epoch, seq),
    },
    primary: {
      ready: (volume) => {
        const v = volumes.get(volume);
        if (v?.role === 'primary' && v.state === 'active') {
          service.serve(volume).catch((err) => log.error('serving failed', { volume, err }));
        }
      },
      staleEpoch: (volume, epoch, peer) => {
        demotion.fence(volume, epoch, peer).catch((err) => log.error('fencing failed', { volume, err }));
      },
    },
    answer: (peer, req) => (req.kind === 'api' ? relay.answer(peer, req) : quorum.answer(peer, req)),
  });
  const lifecycle = new VolumeLifecycle({
    self,
    catalog,
    store,
    outbox,
    events,
    clock,
    log,
    volumes,
    members,
    links,
    views,
    seed,
    scheduler,
    leaseValid: (volume) => quorum.leaseValid(volume),
  });
  const roles: RoleContext = {
    self,
    catalog,
    store,
    events,
    log: log.child('roles'),
    clock,
    volumes,
    outbox,
    fileRows: new FileRowWriter(catalog),
    views,
    seed,
    service,
    hooks,
    runner: lifecycle,
    queue: new KeyedSerialQueue(),
  };
  const promotion = new Promotion(roles);
  const demotion = new Demotion(roles);
  const switchover = new Switchover(roles, promotion);
  const admission = new MirrorAdmission(roles, demotion);
  const quorum: Quorum = new Quorum({
    self,
    catalog,
    clock,
    events,
    log: log.child('quorum'),
    volumes,
    request: (node, req, timeoutMs) => links.request(node, req, timeoutMs),
    fence: (volume, why) => demotion.fenceForLease(volume, why),
    unfence: (volume) => demotion.unfence(volume),
    promote: (volume, why) => promotion.promoteForFailover(volume, why),
  });
  const relay = new Relay({
    self,
    clock,
    log: log.child('relay'),
    isMember: (node) => members.addressOf(node) !== undefined,
    linkTo: (node) => links.linkTo(node),
    routes,
  });
  const backups = new Backups({
    catalog,
    store,
    events,
    clock,
    node: self,
    cluster: fingerprintOf(base.identity.caCertPem),
    keyFile: base.paths.backupKey,
    scratchDir: base.paths.dir,
  });
  const invites = new Invites({
    catalog,
    clock,
    identity: base.identity,
    stateDir: base.paths.dir,
    members,
    events,
    listen: config.advertise,
  });
  const backupPlans = new BackupPlans({ tables: new BackupTables(catalog), backups, scheduler, events });
  return {
    volumes,
    members,
    invites,
    outbox,
    links,
    views,
    past,
    gc,
    lifecycle,
    backups,
    backupPlans,
    promotion,
    demotion,
    switchover,
    divergence: new Divergence(roles),
    quorum,
    relay,
    scheduler,
    roles,
    monitor: buildMonitor(base, { scheduler, plans: backupPlans, status }),
  };
}
