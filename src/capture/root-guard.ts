import { promises as fsp } from 'node:fs';
import type { EventSink } from '../core/index.ts';
import type { Catalog } from '../store/index.ts';
import { isStagingName } from '../sys/index.ts';
import { VolumeTable } from '../volumes/index.ts';
import type { FileRows } from './file-rows.ts';

/** DEFAULT_ROOT_CHECK_MS is how often a volume stopped by the root guard looks for its root again. */
export const DEFAULT_ROOT_CHECK_MS = 5000;

/** RootProblem is why a volume root cannot be trusted, or null when it can. */
export type RootProblem = {
  type: 'capture.root-missing' | 'capture.root-empty';
  cause: 'root-missing' | 'root-empty';
  reason: string;
} | null;

/** isRootStop tells whether a stop cause is the root guard's own (so only it lifts it). */
export function isRootStop(cause: string | null): boolean {
  return cause === 'root-missing' || cause === 'root-empty';
}

/**
 * checkRoot tells whether the volume root can be read as the truth. A missing root, one that is
 * not a directory, or an empty root while capture has recorded files (an unmounted disk looks
 * exactly like that) is a problem: reading it would turn "the disk is gone" into "delete all".
 */
export async function checkRoot(root: string, rows: FileRows): Promise<RootProblem> {
  let isDir: boolean;
  try {
    isDir = (await fsp.stat(root)).isDirectory();
  } catch (err) {
    return missing(`root-missing: ${root}: ${(err as NodeJS.ErrnoException).code}`);
  }
  if (!isDir) return missing(`root-missing: ${root} is not a directory`);
  if (!rows.hasAny()) return null;
  const dir = await fsp.opendir(root);
  try {
    for await (const entry of dir) {
      if (!isStagingName(entry.name)) return null;
    }
  } catch (err) {
    return missing(`root-missing: ${root}: ${(err as NodeJS.ErrnoException).code}`);
  }
  return {
    type: 'capture.root-empty',
    cause: 'root-empty',
    reason: `root-empty: ${root} is empty but files were captured from it`,
  };
}

function missing(reason: string): RootProblem {
  return { type: 'capture.root-missing', cause: 'root-missing', reason };
}

/**
 * RootGuard stops a volume whose root cannot be trusted (volumes.state = 'stopped' with the
 * reason) and resumes it once the root is back. It records one event per transition, not one
 * per check, so a disk that stays unmounted raises one alert.
 */
export class RootGuard {
  readonly #rows: FileRows;
  readonly #events: EventSink;
  readonly #volume: string;
  readonly #root: string;
  readonly #volumes: VolumeTable;

  readonly #onStop: (reason: string) => void;

  constructor(deps: {
    catalog: Catalog;
    rows: FileRows;
    events: EventSink;
    volume: string;
    root: string;
    onStop?: (reason: string) => void;
  }) {
    this.#onStop = deps.onStop ?? (() => {});
    this.#rows = deps.rows;
    this.#events = deps.events;
    this.#volume = deps.volume;
    this.#root = deps.root;
    this.#volumes = new VolumeTable(deps.catalog);
  }

  /**
   * check returns true when capture may read the root. Otherwise it stops the volume (once)
   * and returns false. A volume it stopped earlier whose root is back is resumed here; a volume
   * stopped for another reason is left alone and reported as not readable.
   */
  async check(): Promise<boolean> {
    const row = this.#volumes.get(this.#volume);
    // Someone else's stop (an operator, a demotion) is theirs to lift.
    if (this.isStoppedElsewhere()) return false;
    const problem = await checkRoot(this.#root, this.#rows);
    const isOurStop = isRootStop(row?.stopCause ?? null);
    if (problem) {
      if (!isOurStop || row?.reason !== problem.reason) {
        this.#volumes.stop(this.#volume, problem.cause, problem.reason);
        this.#events.emit({
          level: 'error',
          type: problem.type,
          volume: this.#volume,
          msg: 'volume root cannot be trusted; capture of the volume is stopped',
          data: { root: this.#root, reason: problem.reason },
        });
        this.#onStop(problem.reason);
      }
      return false;
    }
    if (isOurStop) {
      this.#volumes.resume(this.#volume);
      this.#events.emit({
        level: 'info',
        type: 'volume.resumed',
        volume: this.#volume,
        msg: 'volume root is back; capture resumes',
        data: { root: this.#root },
      });
    }
    return true;
  }

  /** isStoppedElsewhere tells whether the volume was stopped by someone other than the guard. */
  isStoppedElsewhere(): boolean {
    const row = this.#volumes.get(this.#volume);
    return row?.state === 'stopped' && !isRootStop(row.stopCause);
  }
}
