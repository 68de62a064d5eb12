import { GlobFilter } from '../capture/index.ts';
import { checkRelativePath, chunkHashAt, type EventSink, HASH_BYTES, HindsightError } from '../core/index.ts';
import type { Catalog, ChunkStore } from '../store/index.ts';
import type { Logger } from '../sys/index.ts';
import type { Volumes } from '../volumes/index.ts';
import { applyStates } from './materialize.ts';
import type { MirrorViews } from './mirror-views.ts';
import { changesProducedBetween, childrenAt, liveAt, versionAt } from './state-at.ts';
import { checkTarget } from './target-dir.ts';
import type { VersionRow } from './versions.ts';

/** PastViewsDeps is what reading the past needs: the stored timeline and the live views (for moments and roots). */
export interface PastViewsDeps {
  catalog: Catalog;
  store: ChunkStore;
  events: EventSink;
  log: Logger;
  volumes: Volumes;
  mirror: MirrorViews;
}

/** TimelineEntry is one change as `hindsight timeline` lists it. */
export interface TimelineEntry {
  seq: number;
  at: number;
  path: string;
  kind: string;
  size: number;
}

/** ListEntry is one entry of `hindsight ls`. */
export interface ListEntry {
  name: string;
  path: string;
  kind: 'file' | 'dir' | 'symlink';
  size: number;
  mode: number;
  mtimeMs: number;
  target: string | null;
  changedAt: number;
}

const MINUTE_MS = 60_000;
const TIMELINE_LIMIT = 10_000;

/**
 * PastViews is the read-only past of the volumes this node mirrors: ls, cat, timeline, and
 * preview and restore, which write the state at a moment somewhere other than a view. Nothing
 * here changes the timeline or a view; moments become seqs through MirrorViews.seqFor, so the
 * history floor is enforced in one place.
 */
export class PastViews {
  readonly #deps: PastViewsDeps;

  constructor(deps: PastViewsDeps) {
    this.#deps = deps;
  }

  /**
   * preview materializes the whole volume as of `at` into `into`, which must be new or empty.
   * Like restore, it runs exclusively: garbage collection must not remove chunks it reads.
   */
  preview(volume: string, at: number, into: string) {
    return this.#deps.mirror.exclusively(() => this.#preview(volume, at, into));
  }

  async #preview(volume: string, at: number, into: string) {
    const seq = this.#deps.mirror.seqFor(volume, at);
    const dir = await this.#target(into, true);
    const done = await applyStates(this.#deps.store, dir, [], liveAt(this.#deps.catalog, volume, seq), {
      fresh: true,
    });
    this.#event('timeline.previewed', volume, 'volume previewed', { at, seq, into: dir, ...done });
    return { seq, into: dir, ...done };
  }

  /** restore writes `path` (a file or a folder) as of `at` beneath `into`, at its path in the volume. */
  restore(volume: string, path: string, at: number, into: string) {
    return this.#deps.mirror.exclusively(() => this.#restore(volume, path, at, into));
  }

  async #restore(volume: string, path: string, at: number, into: string) {
    const rel = normalizeRel(path);
    const seq = this.#deps.mirror.seqFor(volume, at);
    const states = liveAt(this.#deps.catalog, volume, seq, rel);
    if (states.length === 0) {
      throw new HindsightError('E_RESTORE_NOTHING', `${path} did not exist in ${volume} at that moment`, {
        hint: `look with: hindsight ls ${volume} --at T and hindsight timeline ${volume} --path '${path}'`,
      });
    }
    const dir = await this.#target(into, false);
    const done = await applyStates(this.#deps.store, dir, [], states);
    this.#event('timeline.restored', volume, 'path restored', {
      at,
      seq,
      path: rel,
      into: dir,
      ...done,
    });
    return { seq, into: dir, ...done };
  }

  /** list returns the entries of directory `path` ('' for the root) as of `at`. */
  list(volume: string, at: number, path: string): { seq: number; entries: ListEntry[] } {
    const rel = normalizeRel(path);
    const seq = this.#deps.mirror.seqFor(volume, at);
    const { catalog } = this.#deps;
    if (rel !== '') {
      const self = versionAt(catalog, volume, rel, seq);
      if (!self)
        throw new HindsightError('E_PATH_NOT_FOUND', `${path} did not exist in ${volume} at that moment`);
      if (self.kind !== 'mkdir') return { seq, entries: [toEntry(self)] };
    }
    return { seq, entries: childrenAt(catalog, volume, seq, rel).map(toEntry) };
  }

  /** read yields the content of file `path` as of `at`, chunk by chunk. */
  read(volume: string, at: number, path: string): { size: number; chunks: Iterable<Buffer> } {
    const rel = normalizeRel(path);
    const seq = this.#deps.mirror.seqFor(volume, at);
    const v = versionAt(this.#deps.catalog, volume, rel, seq);
    if (v?.kind !== 'put') {
      throw new HindsightError('E_PATH_NOT_FOUND', `${path} was not a file in ${volume} at that moment`);
    }
    const store = this.#deps.store;
    const list = v.chunks ?? Buffer.alloc(0);
    return {
      size: v.size,
      chunks: (function* () {
        for (let i = 0; i < list.length / HASH_BYTES; i++) yield store.readRaw(chunkHashAt(list, i));
      })(),
    };
  }

  /** timeline lists the changes between `since` and `until` (production time), with per-minute counts. */
  timeline(volume: string, since: number, until: number, glob?: string) {
    this.#deps.mirror.views(volume);
    // A path matches when the glob (as an exclude) would leave it out.
    const filter = glob ? new GlobFilter([], [glob]) : null;
    const rows = changesProducedBetween(this.#deps.catalog, volume, since, until);
    const changes: TimelineEntry[] = [];
    const perMinute = new Map<number, number>();
    let total = 0;
    for (const r of rows) {
      if (filter?.isCapturedPath(r.path, r.kind === 'mkdir' || r.kind === 'meta')) continue;
      total++;
      const minute = Math.floor(r.at / MINUTE_MS) * MINUTE_MS;
      perMinute.set(minute, (perMinute.get(minute) ?? 0) + 1);
      if (changes.length < TIMELINE_LIMIT) changes.push(r);
    }
    return {
      total,
      truncated: total > changes.length,
      changes,
      perMinute: [...perMinute].map(([minute, count]) => ({ minute, count })),
    };
  }

  #target(into: string, mustBeEmpty: boolean): Promise<string> {
    return checkTarget(this.#deps.catalog, this.#deps.volumes, into, mustBeEmpty);
  }

  #event(
    type: 'timeline.previewed' | 'timeline.restored',
    volume: string,
    msg: string,
    data: Record<string, unknown>,
  ) {
    this.#deps.log.info(msg, { volume, ...data });
    this.#deps.events.emit({ level: 'info', type, volume, msg, data });
  }
}

function toEntry(v: VersionRow): ListEntry {
  return {
    name: v.path.slice(v.path.lastIndexOf('/') + 1),
    path: v.path,
    kind: v.kind === 'put' ? 'file' : v.kind === 'symlink' ? 'symlink' : 'dir',
    size: v.size,
    mode: v.mode,
    mtimeMs: v.mtimeMs,
    target: v.target,
    changedAt: v.producedAt,
  };
}

/** normalizeRel turns a user's path in the volume ('/a/b/', 'a/b', '.', '') into 'a/b' or ''. */
function normalizeRel(path: string): string {
  const rel = path
    .split('/')
    .filter((p) => p !== '' && p !== '.')
    .join('/');
  if (rel !== '') checkRelativePath(rel);
  return rel;
}
