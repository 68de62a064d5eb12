import { promises as fsp } from 'node:fs';
import { resolve } from 'node:path';
import { type Clock, type EventSink, errorMessage, HindsightError } from '../core/index.ts';
import type { Catalog, ChunkStore } from '../store/index.ts';
import { type Logger, SerialQueue } from '../sys/index.ts';
import type { VolumeRow, Volumes } from '../volumes/index.ts';
import { type ApplyFailure, ApplyLoop } from './apply-loop.ts';
import type { FunnelClock } from './funnel-clock.ts';
import { historyFloor } from './history.ts';
import { discardAfter, finishMove, rewindView } from './rewind.ts';
import { producedAtOf, seqAt } from './state-at.ts';
import { funnelStats, oldestProducedAt } from './versions.ts';
import { ViewApplier } from './view-apply.ts';
import { ensureView, listViews, readView, setViewDelay, setViewHeld, type ViewRow } from './views.ts';

/** MirrorViewsDeps is what the mirror side of the timeline needs from the agent. */
export interface MirrorViewsDeps {
  /** This node's name. */
  self: string;
  catalog: Catalog;
  store: ChunkStore;
  events: EventSink;
  log: Logger;
  clock: Clock;
  funnel: FunnelClock;
  volumes: Volumes;
  /** Told when a person resumes a volume's views, so the guard starts counting afresh. */
  onResume?: (volume: string) => void;
}

/** ViewStatus is one view with its funnel, as status shows it. */
export interface ViewStatus {
  name: string;
  root: string;
  delayMs: number;
  appliedSeq: number;
  /** Production time of the last applied change: the moment the view shows. */
  appliedAt: number | null;
  held: boolean;
  holdReason: string | null;
  heldSince: number | null;
  /** A rewind is moving the view (or was interrupted and is finished at start). */
  moving: boolean;
  /** Why the view does not move (its batches fail since then); null when it moves. */
  error: ApplyFailure | null;
  funnel: { changes: number; bytes: number; oldestReceivedAt: number | null; nextDueAt: number | null };
}

/**
 * MirrorViews is the mirror side of every volume this node mirrors: the views and their apply
 * loops, the funnel settings (delay, hold), rewind and discard. The read-only past is
 * PastViews, history retention and garbage collection are GarbageCollector; all of them take
 * turns through `exclusively`. The daemon builds one and routes API calls and received batches to it.
 */
export class MirrorViews {
  readonly #deps: MirrorViewsDeps;
  /** volume → view name → loop */
  readonly #loops = new Map<string, Map<string, ApplyLoop>>();
  /** One exclusive operation (rewind, discard, collect, preview, promote) at a time, per node. */
  readonly #exclusive = new SerialQueue();

  constructor(deps: MirrorViewsDeps) {
    this.#deps = deps;
  }

  /** start creates the volume's views from its spec, finishes interrupted rewinds, and starts applying. */
  async start(v: VolumeRow): Promise<void> {
    if (this.#loops.has(v.name)) return;
    const { catalog } = this.#deps;
    const mine = v.spec.mirrors.find((m) => m.node === this.#deps.self);
    const wanted = [{ name: 'main', path: v.path, delayMs: mine?.delayMs ?? 0 }, ...(mine?.views ?? [])];
    const loops = new Map<string, ApplyLoop>();
    this.#loops.set(v.name, loops);
    for (const w of wanted) {
      const isNew = !listViews(catalog, v.name).some((r) => r.name === w.name);
      if (w.name !== 'main') await fsp.mkdir(w.path, { recursive: true, mode: 0o755 });
      ensureView(catalog, v.name, w.name, resolve(w.path));
      if (isNew && w.delayMs > 0) setViewDelay(catalog, v.name, w.name, w.delayMs);
      const view = readView(catalog, v.name, w.name);
      const loop = this.#makeLoop(v.name, view);
      loops.set(w.name, loop);
      if (view.movingFrom !== null) {
        try {
          await finishMove({ ...this.#deps, volume: v.name, view: w.name, root: view.root });
        } catch (err) {
          // Applying on top of a half-moved view would mix two moments: the view stays stopped.
          this.#event('error', 'view.stuck', v.name, 'an interrupted rewind could not be finished', {
            view: w.name,
            error: errorMessage(err),
            hint: `fix the cause, then restart the agent or run hindsight rewind ${v.name} --to T --view ${w.name}`,
          });
          continue;
        }
      }
      loop.start();
    }
  }

  /** loop returns the apply loop of a view. */
  loop(volume: string, view = 'main'): ApplyLoop | undefined {
    return this.#loops.get(volume)?.get(view);
  }

  /** wake tells every view of `volume` that new versions were recorded. */
  wake(volume: string): void {
    for (const loop of this.#loops.get(volume)?.values() ?? []) loop.wake();
  }

  /** stop ends every apply loop once its current batch is done. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.#loops.values()].flatMap((m) => [...m.values()].map((l) => l.stop())));
  }

  /** views returns the named view of a mirrored volume, or all of them when `view` is undefined. */
  views(volume: string, view?: string): ViewRow[] {
    const v = this.#deps.volumes.get(volume);
    if (v?.role !== 'mirror') {
      throw new HindsightError('E_VOLUME_NOT_MIRROR', `this node does not mirror a volume named ${volume}`, {
        hint: 'run the command on the mirror node (or pass --on NODE); `hindsight status` lists volumes',
      });
    }
    const all = listViews(this.#deps.catalog, volume);
    if (view === undefined) return all;
    const found = all.filter((r) => r.name === view);
    if (found.length === 0) {
      throw new HindsightError('E_VIEW_MISSING', `volume ${volume} has no view named ${view}`, {
        hint: `views: ${all.map((r) => r.name).join(', ')}`,
      });
    }
    return found;
  }

  /** hold stops views from applying; persisted, so a restart keeps them held. */
  hold(volume: string, view?: string): ViewRow[] {
    const at = this.#deps.clock.now();
    return this.#change(volume, view, 'view.held', 'view held', {}, (r) =>
      setViewHeld(this.#deps.catalog, volume, r.name, true, 'hold', at),
    );
  }

  /** resume releases held views (by a person, a rewind or the guard); they catch up with their delay. */
  resume(volume: string, view?: string): ViewRow[] {
    this.#deps.onResume?.(volume);
    return this.#change(volume, view, 'view.resumed', 'view resumed', {}, (r) =>
      setViewHeld(this.#deps.catalog, volume, r.name, false),
    );
  }

  /** setDelay changes the funnel delay; a shorter delay takes effect at once. */
  setDelay(volume: string, delayMs: number, view?: string): ViewRow[] {
    return this.#change(volume, view, 'view.delay-changed', 'view delay changed', { delayMs }, (r) =>
      setViewDelay(this.#deps.catalog, volume, r.name, delayMs),
    );
  }

  /** #change applies `fn` to the selected views, records the event, wakes the loops, and returns the views. */
  #change(
    volume: string,
    view: string | undefined,
    type: 'view.held' | 'view.resumed' | 'view.delay-changed',
    msg: string,
    data: Record<string, unknown>,
    fn: (r: ViewRow) => void,
  ): ViewRow[] {
    const selected = this.views(volume, view);
    for (const r of selected) fn(r);
    this.#event('info', type, volume, msg, { ...data, views: selected.map((r) => r.name) });
    this.wake(volume);
    return this.views(volume, view);
  }

  /** seqFor turns a moment into the seq it shows, refusing one older than the kept history. */
  seqFor(volume: string, at: number): number {
    this.views(volume);
    const { catalog } = this.#deps;
    const seq = seqAt(catalog, volume, at);
    const floor = historyFloor(catalog, volume);
    if (seq < floor) {
      const oldest = producedAtOf(catalog, volume, floor);
      throw new HindsightError(
        'E_TIME_OUT_OF_RANGE',
        `that moment is older than the history kept for ${volume}`,
        {
          hint: `the oldest moment kept is ${oldest === null ? 'unknown' : new Date(oldest).toISOString()}; a longer --history keeps more`,
        },
      );
    }
    return seq;
  }

  /** rewind holds the view(s) and moves them to the moment `at`. */
  rewind(volume: string, at: number, view?: string) {
    return this.exclusively(() => this.moveTo(volume, this.seqFor(volume, at), view, at));
  }

  /**
   * moveTo holds the view(s) and moves them to `seq` (`at` is the moment asked for, for the
   * event). Callers run it exclusively: rewind, and promote, which moves every view to the
   * seq it promotes at.
   */
  async moveTo(volume: string, seq: number, view?: string, at?: number) {
    const out = [];
    for (const r of this.views(volume, view)) {
      const loop = this.loop(volume, r.name);
      await loop?.stop();
      try {
        const done = await rewindView(
          { ...this.#deps, volume, view: r.name, root: r.root },
          seq,
          this.#deps.clock.now(),
        );
        out.push({ view: r.name, seq, ...done });
      } finally {
        loop?.start();
      }
    }
    this.#event('info', 'view.rewound', volume, 'view rewound', { at, seq, views: out });
    return { seq, at, views: out };
  }

  /** forget stops the views of a volume this node no longer mirrors (it was promoted). */
  async forget(volume: string): Promise<void> {
    const loops = this.#loops.get(volume);
    this.#loops.delete(volume);
    await Promise.allSettled([...(loops?.values() ?? [])].map((l) => l.stop()));
  }

  /** discard drops every stored change after the moment `at`, for good. */
  discard(volume: string, at: number) {
    return this.exclusively(async () => {
      const seq = this.seqFor(volume, at);
      const discarded = discardAfter(this.#deps.catalog, volume, seq);
      this.#event('warn', 'timeline.discarded', volume, 'changes discarded', { after: at, seq, discarded });
      return { seq, discarded };
    });
  }

  /** status describes every view of a mirrored volume with its funnel. */
  status(volume: string): { views: ViewStatus[]; historyMs: number; oldestAt: number | null } {
    const { catalog, clock, funnel } = this.#deps;
    const v = this.#deps.volumes.get(volume)!;
    const views = listViews(catalog, volume).map((r): ViewStatus => {
      const f = funnelStats(catalog, volume, r.appliedSeq);
      return {
        name: r.name,
        root: r.root,
        delayMs: r.delayMs,
        appliedSeq: r.appliedSeq,
        appliedAt: r.appliedSeq > 0 ? producedAtOf(catalog, volume, r.appliedSeq) : null,
        held: r.held,
        holdReason: r.holdReason,
        heldSince: r.heldSince,
        moving: r.movingFrom !== null,
        error: this.#loops.get(volume)?.get(r.name)?.failure ?? null,
        funnel: {
          changes: f.changes,
          bytes: f.bytes,
          oldestReceivedAt: f.oldestReceivedAt,
          nextDueAt:
            f.nextReceivedMono !== null && !r.held
              ? clock.now() + Math.max(0, f.nextReceivedMono + r.delayMs - funnel.now())
              : null,
        },
      };
    });
    const oldestAt = oldestProducedAt(catalog, volume, historyFloor(catalog, volume));
    return { views, historyMs: v.spec.historyMs, oldestAt };
  }

  #makeLoop(volume: string, view: ViewRow): ApplyLoop {
    const applier = new ViewApplier({
      catalog: this.#deps.catalog,
      store: this.#deps.store,
      events: this.#deps.events,
      log: this.#deps.log.child(`apply.${volume}.${view.name}`),
      funnelNow: () => this.#deps.funnel.now(),
      volume,
      view: view.name,
      root: view.root,
    });
    return new ApplyLoop({
      applier,
      clock: this.#deps.clock,
      log: this.#deps.log.child(`apply.${volume}`),
      volume,
    });
  }

  /**
   * exclusively runs `fn` when no other exclusive operation runs on this node: rewind, discard
   * and garbage collection, and the previews and restores that read chunks GC could remove.
   */
  exclusively<T>(fn: () => Promise<T>): Promise<T> {
    return this.#exclusive.run(fn);
  }

  #event(
    level: 'info' | 'warn' | 'error',
    type: Parameters<EventSink['emit']>[0]['type'],
    volume: string | undefined,
    msg: string,
    data: Record<string, unknown>,
  ): void {
    this.#deps.log.info(msg, { volume, ...data });
    this.#deps.events.emit({ level, type, volume, msg, data });
  }
}
