import { HindsightError } from '../core/index.ts';
import { type Catalog, type ChunkStore, inTransaction } from '../store/index.ts';
import { crashPoint } from '../sys/index.ts';
import { applyStates, type StatesOutcome } from './materialize.ts';
import { pathsChangedBetween, versionAt } from './state-at.ts';
import { deleteAfter } from './versions.ts';
import { clearMove, listViews, readView, recordMove } from './views.ts';

/** MoveDeps names the view a rewind moves and where its data comes from. */
export interface MoveDeps {
  catalog: Catalog;
  store: ChunkStore;
  volume: string;
  view: string;
  root: string;
}

/**
 * rewindView holds a view and moves it to `toSeq`, back into history or forward into the
 * funnel; the caller makes sure no apply runs on the view meanwhile. The changes after
 * `toSeq` stay stored. Only the paths changed between the two positions are touched, each set
 * to its state at `toSeq`.
 *
 * Crash safety: the move is recorded first (`moving_from` = old position, `applied_seq` = new,
 * held) in one transaction; the directory is then changed path by path; `moving_from` is
 * cleared once every directory is fsynced. A move found recorded at start (`finishMove`) is
 * simply run again: every step sets a path's whole state, so repeating it is harmless.
 */
export async function rewindView(deps: MoveDeps, toSeq: number, heldAt: number): Promise<StatesOutcome> {
  await finishMove(deps);
  const { catalog, volume, view } = deps;
  inTransaction(catalog, () => recordMove(catalog, volume, view, toSeq, heldAt));
  crashPoint('rewind.recorded');
  return (await finishMove(deps)) ?? { removed: 0, written: 0, bytes: 0 };
}

/** finishMove completes a recorded move of the view, if there is one, and returns what it did. */
export async function finishMove(deps: MoveDeps): Promise<StatesOutcome | null> {
  const { catalog, store, volume, view: name, root } = deps;
  const view = readView(catalog, volume, name);
  if (view.movingFrom === null) return null;
  const removals: string[] = [];
  const states = [];
  for (const path of pathsChangedBetween(catalog, volume, view.movingFrom, view.appliedSeq)) {
    const state = versionAt(catalog, volume, path, view.appliedSeq);
    if (state) states.push(state);
    else removals.push(path);
  }
  let groups = 0;
  const outcome = await applyStates(store, root, removals, states, {
    onProgress: () => {
      if (++groups === 2) crashPoint('rewind.midway');
    },
  });
  clearMove(catalog, volume, name);
  return outcome;
}

/**
 * discardAfter deletes every stored change of the volume after `seq`, for good: what is
 * discarded is never applied (say, the writes of ransomware). Views must not show any of it:
 * a view past `seq` is refused with a hint to rewind it first. Versions that the discarded
 * changes had superseded become current again. Returns how many changes were discarded.
 */
export function discardAfter(catalog: Catalog, volume: string, seq: number): number {
  for (const view of listViews(catalog, volume)) {
    if (view.appliedSeq > seq || view.movingFrom !== null) {
      throw new HindsightError(
        'E_DISCARD_VIEW_AHEAD',
        `view ${view.name} of ${volume} shows changes after that moment`,
        {
          hint: `rewind it to the same moment first: hindsight rewind ${volume} --to T --view ${view.name}`,
        },
      );
    }
  }
  return inTransaction(catalog, () => deleteAfter(catalog, volume, seq));
}
