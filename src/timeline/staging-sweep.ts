import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { isStagingName, type TreeOps } from '../sys/index.ts';

/**
 * removeStagingFiles walks a view root and removes every staging entry an interrupted apply
 * left behind (a staging file is never the outcome of a finished apply, so all are garbage).
 * The walk never follows a symlink: a Dirent describes the entry itself, and only real
 * directories are entered. Returns how many entries were removed.
 *
 * Removals are not fsynced: a leftover that reappears after a crash is removed at the next start.
 */
export async function removeStagingFiles(ops: TreeOps, root: string): Promise<number> {
  let removed = 0;
  // An explicit stack instead of recursion: depth costs memory, not call frames.
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const leftovers: string[] = [];
    try {
      // opendir streams the entries: a directory of a million files is not loaded at once.
      for await (const entry of await fsp.opendir(dir)) {
        if (isStagingName(entry.name)) leftovers.push(join(dir, entry.name));
        else if (entry.isDirectory()) stack.push(join(dir, entry.name));
      }
    } catch (err) {
      // Removed or replaced since it was listed: nothing of ours can be left inside.
      if (['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) continue;
      throw err;
    }
    for (const full of leftovers) {
      await ops.rmTree(full);
      removed++;
    }
  }
  return removed;
}
