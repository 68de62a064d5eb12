import type { ChunkStore } from '../store/index.ts';
import { NODE_FILE_OPS, syncFileSystem, syncfsReachesDisk, type TreeOps } from '../sys/index.ts';
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

/** StatesOptions tune applyStates for where it writes. */
export interface StatesOptions {
  /**
   * The root is a directory made empty for this call (a preview): files are created at their
   * paths directly, without a staging name and rename, since there is nothing to replace and
   * a half-written preview is never resumed; and where the file system's syncfs reaches the
   * disk, instead of an fsync per file and directory it is synced once at the end (group
   * commit). Views and restores replace files atomically, each fsynced before its rename.
   */
  fresh?: boolean;
  /** Whether a fresh tree is committed as a group (default: syncfsReachesDisk of the root). */
  groupCommit?: boolean;
  /** How a group-committed tree is made durable at the end (default syncFileSystem); tests observe it. */
  syncFileSystem?: (dir: string) => Promise<void>;
  /** Called after every MATERIALIZE_PARALLEL files and after the last, with the entries written so far. */
  onProgress?: (done: number) => void;
  /** Where the writes go (default NODE_FILE_OPS); tests wrap it to fail chosen calls. */
  ops?: TreeOps;
}

/**
 * applyStates makes the tree at `root` hold `states` and not hold `removals`, whatever the
 * paths hold now: the absolute form of apply, used by rewind, preview and restore. Because
 * every step sets a path's whole state, running it again after a crash finishes the job.
 *
 * Order: removals deepest first (a directory's entries go before it), then directories from
 * the top down, then files, MATERIALIZE_PARALLEL at a time, then symlinks one by one, then one
 * fsync of every directory whose entries changed (a fresh tree where syncfs reaches the disk:
 * one syncfs, which covers the files' data as well; docs/benchmarks.md, h). Symlinks come last so that no file is ever
 * written while a link is being put in place: a timeline that (wrongly) holds a link and a file
 * beneath it cannot make a concurrent write follow the link. Paths go through the same guard
 * as apply: nothing is written outside `root` and no symlink is followed. Directories checked
 * once are remembered for the call, so a file costs no lstat of its ancestors.
 */
export async function applyStates(
  store: ChunkStore,
  root: string,
  removals: string[],
  states: VersionRow[],
  options: StatesOptions = {},
): Promise<StatesOutcome> {
  await checkViewRoot(root);
  const grouped = options.fresh === true && (options.groupCommit ?? (await syncfsReachesDisk(root)));
  const ctx: EffectContext = { store, ops: options.ops ?? NODE_FILE_OPS, dirty: new Set() };
  const known = new Set<string>();
  const outcome: StatesOutcome = { removed: 0, written: 0, bytes: 0 };
  const resolve = async (path: string) =>
    (await resolveBeneath(ctx.ops, root, path, true, ctx.dirty, known))!;
  for (const path of [...removals].sort(byDepthDescending)) {
    const at = await resolveBeneath(ctx.ops, root, path, false, ctx.dirty);
    if (at === null) continue;
    await applyDelete(ctx, at);
    outcome.removed++;
  }
  const dirs = states.filter((v) => v.kind === 'mkdir').sort(byDepthAscending);
  for (const v of dirs) {
    const at = await resolve(v.path);
    await applyMkdir(ctx, v, at);
    known.add(at.full);
    outcome.written++;
  }
  const files = states.filter((v) => v.kind === 'put');
  let next = 0;
  let filesDone = 0;
  const worker = async () => {
    while (next < files.length) {
      const v = files[next++];
      await applyPut(ctx, v, await resolve(v.path), { inPlace: options.fresh === true, noSync: grouped });
      outcome.written++;
      outcome.bytes += v.size;
      if (++filesDone % MATERIALIZE_PARALLEL === 0) options.onProgress?.(outcome.written);
    }
  };
  await Promise.all(Array.from({ length: MATERIALIZE_PARALLEL }, worker));
  if (filesDone % MATERIALIZE_PARALLEL !== 0) options.onProgress?.(outcome.written);
  for (const v of states) {
    if (v.kind !== 'symlink') continue;
    await applySymlink(ctx, v, await resolve(v.path));
    outcome.written++;
  }
  if (grouped) await (options.syncFileSystem ?? syncFileSystem)(root);
  else for (const dir of ctx.dirty) await syncDirectoryIfPresent(ctx.ops, dir);
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
