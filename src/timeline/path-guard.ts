import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { HindsightError } from '../core/index.ts';
import { isStagingName, type TreeOps } from '../sys/index.ts';

/** DEFAULT_PARENT_MODE is the mode of a parent directory created before its own mkdir version arrives. */
export const DEFAULT_PARENT_MODE = 0o755;

/** ResolvedPath is where a version's path lives on disk, once every ancestor has been checked. */
export interface ResolvedPath {
  /** The absolute path of the entry itself (not checked: the effect inspects it with lstat). */
  full: string;
  /** The absolute path of its parent directory, a real directory beneath the root. */
  parent: string;
}

/**
 * rejectVersion throws the error that makes the applier skip a version for good: it can never
 * be applied safely, and retrying would not change that.
 */
export function rejectVersion(reason: string): never {
  throw new HindsightError('E_APPLY_REJECTED', reason, {
    hint: 'the version was skipped and nothing was written outside the view root; compare the view with the primary',
  });
}

/**
 * resolveBeneath walks the ancestors of `rel` beneath `root` with lstat and returns where the
 * entry lives. Every ancestor must be a real directory. Without `create` (delete, meta), an
 * ancestor that is missing, a symlink or a file returns null: the entry cannot exist in the
 * view. With `create`, a symlink or a file there is rejected (E_APPLY_REJECTED), because
 * following it would write outside the root; missing ancestors are made (mode
 * DEFAULT_PARENT_MODE) and the directories whose entries changed are added to `dirty`, to be
 * fsynced before the view's position moves.
 *
 * `known` (optional) holds directories already found or made real directories during one
 * operation; their lstat is skipped, and every directory checked here is added to it.
 *
 * lstat-then-use is not atomic; it protects against what the *timeline* can do (a symlink
 * version followed by a put beneath it), on the premise that only the applier writes the view.
 */
export async function resolveBeneath(
  ops: TreeOps,
  root: string,
  rel: string,
  create: boolean,
  dirty: Set<string>,
  known?: Set<string>,
): Promise<ResolvedPath | null> {
  const parts = rel.split('/');
  // Staging names are swept away at start; a version named like one would silently vanish.
  if (parts.some(isStagingName)) rejectVersion(`path ${JSON.stringify(rel)} uses a reserved staging name`);
  let dir = root;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = join(dir, parts[i]);
    if (known?.has(next)) {
      dir = next;
      continue;
    }
    const st = await lstatOrNull(next);
    if (st === null) {
      if (!create) return null;
      try {
        await ops.mkdir(next, DEFAULT_PARENT_MODE);
        dirty.add(dir);
      } catch (err) {
        // Puts are applied concurrently: another may have made the same parent just now.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const made = await lstatOrNull(next);
        if (!made?.isDirectory() || made.isSymbolicLink()) {
          rejectVersion(`ancestor ${JSON.stringify(parts.slice(0, i + 1).join('/'))} is not a directory`);
        }
      }
    } else if (!create && (st.isSymbolicLink() || !st.isDirectory())) {
      // Nothing beneath a link or a file is part of the view, so there is nothing to touch.
      return null;
    } else if (st.isSymbolicLink()) {
      rejectVersion(`ancestor ${JSON.stringify(parts.slice(0, i + 1).join('/'))} is a symlink`);
    } else if (!st.isDirectory()) {
      rejectVersion(`ancestor ${JSON.stringify(parts.slice(0, i + 1).join('/'))} is not a directory`);
    }
    known?.add(next);
    dir = next;
  }
  return { full: join(dir, parts[parts.length - 1]), parent: dir };
}

/** lstatOrNull returns the lstat of `path`, or null if nothing is there. */
export async function lstatOrNull(path: string) {
  try {
    return await fsp.lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** checkViewRoot throws E_APPLY_ROOT unless the view root exists and is a directory. */
export async function checkViewRoot(root: string): Promise<void> {
  let isDir = false;
  try {
    // stat, not lstat: the operator may point the root at a directory through a link.
    isDir = (await fsp.stat(root)).isDirectory();
  } catch (err) {
    throw new HindsightError('E_APPLY_ROOT', `view root ${root} is not reachable`, {
      hint: 'mount or create the directory; the view resumes by itself',
      cause: err,
    });
  }
  if (!isDir) {
    throw new HindsightError('E_APPLY_ROOT', `view root ${root} is not a directory`, {
      hint: 'point the volume at a directory',
    });
  }
}
