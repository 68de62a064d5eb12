import { promises as fsp } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import { HindsightError } from '../core/index.ts';
import type { Catalog } from '../store/index.ts';
import type { Volumes } from '../volumes/index.ts';
import { listViews } from './views.ts';

/**
 * checkTarget checks where a preview, restore or export may write, and makes the directory:
 * an absolute path, never inside (or around) a view or a primary's volume, and new or empty
 * when `mustBeEmpty`. Returns the resolved directory.
 */
export async function checkTarget(
  catalog: Catalog,
  volumes: Volumes,
  into: string,
  mustBeEmpty: boolean,
): Promise<string> {
  if (!isAbsolute(into)) {
    // Relative to what? The agent's working directory is nobody's business.
    throw new HindsightError('E_API_BAD_REQUEST', `into must be an absolute path, not ${into}`, {
      hint: 'the hindsight CLI resolves --into against the directory it runs in',
    });
  }
  const dir = resolve(into);
  for (const v of volumes.list()) {
    const roots = v.role === 'mirror' ? listViews(catalog, v.name).map((r) => r.root) : [v.path];
    for (const root of roots) {
      if (dir === root || dir.startsWith(root + sep) || root.startsWith(dir + sep)) {
        throw new HindsightError('E_TARGET_IN_VIEW', `${dir} overlaps ${root}, a directory of ${v.name}`, {
          hint: 'write previews, restores and exports elsewhere; to move a view itself, use hindsight rewind',
        });
      }
    }
  }
  await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
  if (mustBeEmpty && (await fsp.readdir(dir)).length > 0) {
    throw new HindsightError('E_TARGET_NOT_EMPTY', `${dir} is not empty`, {
      hint: 'use a new or empty directory; nothing was written',
    });
  }
  return dir;
}
