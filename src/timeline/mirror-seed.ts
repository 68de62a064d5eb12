import { promises as fsp } from 'node:fs';
import { type EventSink, errorMessage } from '../core/index.ts';
import { type Catalog, type ChunkStore, deleteMeta, readMeta, writeMeta } from '../store/index.ts';
import type { Logger } from '../sys/index.ts';
import { removeExtras, seedFromDirectory } from './seed.ts';
import { readView } from './views.ts';

const PENDING_KEY = (volume: string) => `seed-pending:${volume}`;

/**
 * MirrorSeed handles a new mirror whose directory already holds data (a copy brought on a disk,
 * or an old mirror): it reads that data into the chunk store before the first transfer, so only
 * what differs crosses the wire, and once the view has caught up with the primary's head as of
 * the declaration it removes what the primary does not have. The pending clean-up is kept in
 * the catalog, so it survives a restart.
 */
export class MirrorSeed {
  readonly #deps: MirrorSeedDeps;

  constructor(deps: MirrorSeedDeps) {
    this.#deps = deps;
  }

  /** seedIfNeeded reads a new mirror's non-empty directory into the store and marks the clean-up pending. */
  async seedIfNeeded(volume: string, root: string, head: number): Promise<void> {
    const entries = await fsp.readdir(root).catch(() => []);
    if (entries.length === 0) return;
    const { catalog, store, events } = this.#deps;
    events.emit({
      level: 'info',
      type: 'volume.seeding',
      volume,
      msg: 'reading the data already in the mirror directory',
    });
    // Marked first: if the agent stops mid-seed, the clean-up of extras still happens later.
    writeMeta(catalog, PENDING_KEY(volume), String(head));
    const report = await seedFromDirectory(root, store, catalog);
    events.emit({
      level: 'info',
      type: 'volume.seeded',
      volume,
      msg: 'seeded from the mirror directory; only differences will be transferred',
      data: { ...report },
    });
  }

  /** pendingHead returns the head the view must reach before extras are removed, or null. */
  pendingHead(volume: string): number | null {
    const value = readMeta(this.#deps.catalog, PENDING_KEY(volume));
    return value === undefined ? null : Number(value);
  }

  /** isCaughtUp tells whether a clean-up is pending and the view has applied the head it waits for. */
  isCaughtUp(volume: string, view: string): boolean {
    const head = this.pendingHead(volume);
    return head !== null && readView(this.#deps.catalog, volume, view).appliedSeq >= head;
  }

  /**
   * finishIfCaughtUp removes the seed's extras once the view has applied the head; the caller
   * holds the view's apply loop stopped meanwhile. Returns true when the clean-up was done.
   */
  async finishIfCaughtUp(
    volume: string,
    view: string,
    root: string,
    keep?: (path: string, isDir: boolean) => boolean,
  ): Promise<boolean> {
    const head = this.pendingHead(volume);
    if (head === null) return false;
    const { catalog, events } = this.#deps;
    const applied = readView(catalog, volume, view).appliedSeq;
    if (applied < head) return false;
    try {
      const removed = await removeExtras(catalog, volume, root, applied, keep);
      deleteMeta(catalog, PENDING_KEY(volume));
      events.emit({
        level: 'info',
        type: 'volume.seeded',
        volume,
        msg: 'removed what the seed copy had and the primary does not',
        data: { removed, appliedSeq: applied },
      });
      return true;
    } catch (err) {
      this.#deps.log.error('seed clean-up failed', { volume, err: errorMessage(err) });
      return false;
    }
  }
}

/** MirrorSeedDeps is what MirrorSeed is built from. */
export interface MirrorSeedDeps {
  catalog: Catalog;
  store: ChunkStore;
  events: EventSink;
  log: Logger;
}
