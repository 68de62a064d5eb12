import { promises as fsp } from 'node:fs';
import type { Server } from 'node:tls';
import { apiRoutes, type NodeApi, type Route } from '../api/index.ts';
import { type Clock, HindsightError } from '../core/index.ts';
import { type JoinAnswer, type JoinRequest, loadIdentity, startPeerServer } from '../link/index.ts';
import { EventLog } from '../monitor/index.ts';
import { openCatalog, PackStore, reportStoreFailed } from '../store/index.ts';
import {
  clockFromEnv,
  createLogger,
  HEAP_TRIM_MS,
  type Logger,
  lockStateDir,
  MemoryPeaks,
  scheduleEvery,
  trimHeap,
  trimMalloc,
} from '../sys/index.ts';
import { bindNodeApi } from './api-binding.ts';
import { gcIntervalFromEnv, loadConfig, type NodeConfig, parseHostPort } from './config.ts';
import { type StatePaths, statePaths } from './paths.ts';
import { buildStages, type NodeBase, type Stages } from './stages.ts';

/**
 * Agent is the process of a node: it opens the state directory (lock, configuration, identity,
 * catalog, chunk store, event log), builds the stages (stages.ts), starts them in order, and
 * stops them in the reverse order. It holds no behaviour of its own.
 */
export class Agent {
  readonly config: NodeConfig;
  readonly paths: StatePaths;
  readonly #base: NodeBase;
  readonly #stages: Stages;
  readonly #routes: Route[];
  readonly #api: NodeApi;
  readonly #unlock: () => Promise<void>;
  readonly #gcIntervalMs: number;
  #peerServer: Server | null = null;

  private constructor(base: NodeBase, unlock: () => Promise<void>, gcIntervalMs: number) {
    this.config = base.config;
    this.paths = base.paths;
    this.#base = base;
    this.#unlock = unlock;
    this.#gcIntervalMs = gcIntervalMs;
    this.#stages = buildStages(
      base,
      () => this.#routes,
      () => this.#api.status(),
    );
    this.#api = bindNodeApi(base, this.#stages, () => this.peerAddress());
    this.#routes = apiRoutes(this.#api);
  }

  /** open loads the node's state and locks the state directory; `start` then runs it. */
  static async open(stateDir: string, options: { clock?: Clock; log?: Logger } = {}): Promise<Agent> {
    const paths = statePaths(stateDir);
    const config = await loadConfig(paths.config);
    const gcIntervalMs = gcIntervalFromEnv(); // a bad value is refused before anything starts
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
      const base = { config, paths, clock, log, catalog, store, events, identity, startedAt: clock.now() };
      return new Agent(base, unlock, gcIntervalMs);
    } catch (err) {
      await unlock();
      throw err;
    }
  }

  /** routes is the HTTP API of this node, to serve on its socket and port. */
  get routes(): Route[] {
    return this.#routes;
  }

  /** start listens on the peer port and starts every loop. */
  async start(): Promise<void> {
    const { config, clock, events, log, identity } = this.#base;
    const s = this.#stages;
    const { host, port } = parseHostPort(config.listen, 'listen');
    this.#peerServer = await startPeerServer(host, port, {
      identity,
      clock,
      events,
      log: log.child('peer'),
      onNodeLink: (factory) => s.links.serve(factory),
      onJoin: (req: JoinRequest): Promise<JoinAnswer> => s.invites.answer(req),
    });
    await s.promotion.resume();
    s.switchover.resumeInterrupted();
    s.lifecycle.startAll();
    s.quorum.start();
    s.scheduler.add(
      'gc',
      scheduleEvery(this.#gcIntervalMs),
      () => s.gc.collect().catch(() => {}), // reported as gc.failed by collect
    );
    const peaks = new MemoryPeaks();
    s.scheduler.add('heap-trim', scheduleEvery(HEAP_TRIM_MS), () => {
      const peak = peaks.observe(); // before the trims: what the peak was made of
      if (peak) log.info('memory peak', peak);
      // V8 first: what it frees is what malloc can then give back.
      if (trimHeap()) log.debug('heap trimmed', { ...process.memoryUsage() });
      if (trimMalloc()) log.debug('malloc trimmed', { ...process.memoryUsage() });
    });
    s.backupPlans.start();
    s.monitor.start();
    events.emit({ level: 'info', type: 'agent.started', msg: 'agent started', data: { node: config.name } });
  }

  /** stop ends every loop, closes links and the catalog, and releases the state directory. */
  async stop(): Promise<void> {
    const { events, store, catalog, log } = this.#base;
    const s = this.#stages;
    events.emit({ level: 'info', type: 'agent.stopping', msg: 'agent stopping' });
    this.#peerServer?.close();
    s.quorum.stop();
    await s.monitor.stop();
    await s.scheduler.stop();
    // Links from primaries first: an open socket keeps the process alive, and a batch in
    // progress must finish before the catalog closes.
    await s.links.stopSessions();
    await s.lifecycle.stop();
    await s.links.stopLinks();
    await store.close().catch((err) => log.error('store close failed', { err }));
    catalog.close();
    await this.#unlock();
  }

  /** peerAddress is where the peer listener is bound. */
  peerAddress(): string {
    const addr = this.#peerServer?.address();
    return addr && typeof addr === 'object' ? `${addr.address}:${addr.port}` : this.config.listen;
  }
}
