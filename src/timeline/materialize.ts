import type { ChunkStore } from '../store/index.ts';
import {
  applyDelete,
  applyMkdir,
  applyPut,
  applySymlink,
  type EffectContext,
  syncDirectoryIfPresent,
} from './apply-effects.ts';
import { checkViewRoot, resolveBeneath } from './path-guard.ts';
import type { VersionRow } from './versions.ts';

/** MATERIALIZE_PARALLEL is how many files are written at once. */
const MATERIALIZE_PARALLEL = 16;

/** StatesOutcome counts what applyStates did. */
export interface StatesOutcome {
  removed: number;
  written: number;
  bytes: number;
}

/**
 * applyStates makes the tree at `root` hold `states` and not hold `removals`, whatever the
 * paths hold now: the absolute form of apply, used by rewind, preview and restore. Because
 * every step sets a path's whole state, running it again after a crash finishes the job.
 *
 * Order: removals deepest first (a directory's entries go before it), then directories from
 * the top down, then files and links, `MATERIALIZE_PARALLEL` at a time, then one fsync of
 * every directory whose entries changed. Paths go through the same guard as apply: nothing is
 * written outside `root` and no symlink is followed. `onProgress` is called after each file.
 */
export async function applyStates(
  store: ChunkStore,
  root: string,
  removals: string[],
  states: VersionRow[],
  onProgress?: (done: number) => void,
): Promise<StatesOutcome> {
  await checkViewRoot(root);
  const ctx: EffectContext = { store, dirty: new Set() };
  const outcome: StatesOutcome = { removed: 0, written: 0, bytes: 0 };
  for (const path of [...removals].sort(byDepthDescending)) {
    const at = await resolveBeneath(root, path, false, ctx.dirty);
    if (at === null) continue;
    await applyDelete(ctx, at);
    outcome.removed++;
  }
  const dirs = states.filter((v) => v.kind === 'mkdir').sort(byDepthAscending);
  for (const v of dirs) {
    await applyMkdir(ctx, v, (await resolveBeneath(root, v.path, true, ctx.dirty))!);
    outcome.written++;
  }
  const leaves = states.filter((v) => v.kind === 'put' || v.kind === 'symlink');
  for (let i = 0; i < leaves.length; i += MATERIALIZE_PARALLEL) {
    await Promise.all(
      leaves.slice(i, i + MATERIALIZE_PARALLEL).map(async (v) => {
        const at = (await resolveBeneath(root, v.path, true, ctx.dirty))!;
        if (v.kind === 'put') await applyPut(ctx, v, at);
        else await applySymlink(ctx, v, at);
        outcome.written++;
        outcome.bytes += v.size;
      }),
    );
    onProgress?.(outcome.written);
  }
  for (const dir of ctx.dirty) await syncDirectoryIfPresent(dir);
  return outcome;
}

function depth(path: string): number {
  let n = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}

function byDepthAscending(a: VersionRow, b: VersionRow): number {
  return depth(a.path) - depth(b.path) || (a.path < b.path ? -1 : 1);
}

function byDepthDescending(a: string, b: string): number {
  return depth(b) - depth(a) || (a < b ? 1 : -1);
}
