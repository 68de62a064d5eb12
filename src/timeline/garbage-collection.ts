import { type Clock, type EventSink, errorMessage } from '../core/index.ts';
import type { Catalog, ChunkReferences, ChunkStore, CollectReport } from '../store/index.ts';
import type { Logger } from '../sys/index.ts';
import type { Volumes } from '../volumes/index.ts';
import { historyHorizon, pruneVersions } from './history.ts';
import type { MirrorSeed } from './mirror-seed.ts';

/** DEFAULT_GC_INTERVAL_MS is how often history is pruned and unreferenced chunks are removed. */
export const DEFAULT_GC_INTERVAL_MS = 10 * 60 * 1000;

/** GarbageCollectorDeps is what collection reads and who holds chunk references. */
export interface GarbageCollectorDeps {
  catalog: Catalog;
  store: ChunkStore;
  events: EventSink;
  log: Logger;
  clock: Clock;
  volumes: Volumes;
  seed: MirrorSeed;
  /** Every holder of chunk references (outbox, timeline, quarantine, and next snapshots and backups). */
  references: readonly ChunkReferences[];
  /** Runs `fn` when no rewind, preview or promotion runs (MirrorViews.exclusively). */
  exclusively: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** GcReport is what one collection did. */
export interface GcReport {
  /** Versions pruned beyond their volume's history window. */
  versions: number;
  /** What the chunk store removed, or null while a volume is being seeded (nothing is removed then). */
  store: CollectReport | null;
}

/**
 * GarbageCollector prunes each mirrored volume's history beyond its window and then removes the
 * chunks no holder references. Volumes still seeding are not pruned, and while one is, no chunk
 * is removed: the seed's chunks are referenced by no version yet.
 */
export class GarbageCollector {
  readonly #deps: GarbageCollectorDeps;

  constructor(deps: GarbageCollectorDeps) {
    this.#deps = deps;
  }

  /** collect runs one collection; a failure is reported as gc.failed and thrown. */
  collect(): Promise<GcReport> {
    return this.#deps.exclusively(async () => {
      const { catalog, store, clock, seed, events, log } = this.#deps;
      try {
        let versions = 0;
        const seeding: string[] = [];
        for (const v of this.#deps.volumes.list()) {
          if (v.role !== 'mirror') continue;
          if (seed.pendingHead(v.name) !== null) {
            seeding.push(v.name);
            continue;
          }
          versions += pruneVersions(
            catalog,
            v.name,
            historyHorizon(catalog, v.name, v.spec.historyMs, clock.now()),
          );
        }
        const report = seeding.length > 0 ? null : await store.collect(this.#deps.references);
        const data = {
          versions,
          ...report,
          ...(seeding.length > 0 ? { chunksKeptWhileSeeding: seeding } : {}),
        };
        log.info('garbage collected', data);
        events.emit({ level: 'info', type: 'gc.finished', msg: 'garbage collected', data });
        return { versions, store: report };
      } catch (err) {
        const data = {
          error: errorMessage(err),
          hint: 'nothing was lost: every step is redone by the next collection; check the disk and the agent log',
        };
        log.info('garbage collection failed', data);
        events.emit({ level: 'error', type: 'gc.failed', msg: 'garbage collection failed', data });
        throw err;
      }
    });
  }
}
