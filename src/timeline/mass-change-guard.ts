import type { Clock, EventSink } from '../core/index.ts';
import type { Catalog } from '../store/index.ts';
import type { Logger } from '../sys/index.ts';
import type { Volumes } from '../volumes/index.ts';
import type { FunnelClock } from './funnel-clock.ts';
import { countCurrentFiles, type RecordedCounts } from './versions.ts';
import { listViews, setViewHeld } from './views.ts';

/** MassChangeGuardDeps is what the guard reads and where it reports. */
export interface MassChangeGuardDeps {
  catalog: Catalog;
  events: EventSink;
  log: Logger;
  clock: Clock;
  funnel: FunnelClock;
  volumes: Volumes;
}

/**
 * MassChangeGuard protects a mirror's delayed views from what ransomware or an unmounted disk
 * looks like: when deletes and rewrites of existing files within the guard window reach the
 * configured share of the volume, or the primary reports that it cannot trust its root, every
 * delayed view is held and an alert is raised. A person looks, then resumes (or rewinds and
 * discards). The window is kept in memory: a restart starts counting afresh.
 */
export class MassChangeGuard {
  readonly #deps: MassChangeGuardDeps;
  /** volume → recent (funnel time, deletes + rewrites, deletes) of received batches */
  readonly #windows = new Map<string, { at: number; n: number; deletes: number }[]>();

  /** When a trip that had no delayed view to hold was last reported, per volume (once per window). */
  readonly #unheldAt = new Map<string, number>();

  constructor(deps: MassChangeGuardDeps) {
    this.#deps = deps;
  }

  /** onRecorded counts a recorded batch and trips the guard when the window reaches the share. */
  onRecorded(volume: string, counts: RecordedCounts): void {
    const v = this.#deps.volumes.get(volume);
    if (!v || counts.deletes + counts.rewrites === 0) return;
    const { share, windowMs, minFiles } = v.spec.guard;
    const now = this.#deps.funnel.now();
    const window = (this.#windows.get(volume) ?? []).filter((e) => e.at > now - windowMs);
    window.push({ at: now, n: counts.deletes + counts.rewrites, deletes: counts.deletes });
    this.#windows.set(volume, window);
    const touched = window.reduce((s, e) => s + e.n, 0);
    if (touched < minFiles) return;
    const deleted = window.reduce((s, e) => s + e.deletes, 0);
    const files = this.#fileCount(volume) + deleted;
    if (touched < share * files) return;
    this.trip(volume, 'mass change', { touched, files, share: touched / Math.max(files, 1), windowMs });
  }

  /** trip holds every delayed view of the volume and raises the alert (once per trip). */
  trip(volume: string, why: string, data: Record<string, unknown>): void {
    const { catalog, clock, events, log } = this.#deps;
    if (this.#deps.volumes.get(volume)?.role !== 'mirror') return;
    const delayed = listViews(catalog, volume).filter((r) => r.delayMs > 0);
    const newlyHeld = delayed.filter((r) => !r.held);
    for (const r of newlyHeld) setViewHeld(catalog, volume, r.name, true, 'guard', clock.now());
    // With every delayed view held already, there is nothing new to say. Without any delayed
    // view there is nothing to hold, but people must still hear of it (once per window): the
    // change is applied already, and only a rewind takes it back.
    if (delayed.length > 0 && newlyHeld.length === 0) return;
    if (delayed.length === 0) {
      const windowMs = this.#deps.volumes.get(volume)?.spec.guard.windowMs ?? 0;
      const last = this.#unheldAt.get(volume);
      if (last !== undefined && clock.now() - last < windowMs) return;
      this.#unheldAt.set(volume, clock.now());
    }
    this.#windows.delete(volume);
    const msg =
      delayed.length === 0
        ? `mass-change guard: ${why}; no delayed view to hold, the change is applied`
        : `mass-change guard: ${why}; delayed views held`;
    const full = {
      ...data,
      reason: why,
      held: newlyHeld.map((r) => r.name),
      hint:
        delayed.length === 0
          ? `look with 'hindsight timeline ${volume}'; rewind to before the change if it was not meant (a delay lets the guard hold it next time)`
          : `look with 'hindsight timeline ${volume}'; then 'hindsight resume ${volume}', or rewind and discard`,
    };
    log.error(msg, { volume, ...full });
    events.emit({ level: 'error', type: 'guard.tripped', volume, msg, data: full });
  }

  /** reset forgets the volume's window, after a person resumed its views. */
  reset(volume: string): void {
    this.#windows.delete(volume);
  }

  #fileCount(volume: string): number {
    return countCurrentFiles(this.#deps.catalog, volume);
  }
}
