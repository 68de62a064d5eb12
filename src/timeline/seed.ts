import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Catalog, ChunkStore } from '../store/index.ts';
import { ingestFile, inTransaction } from '../store/index.ts';
import { isStagingName } from '../sys/index.ts';
import { versionAt } from './state-at.ts';

/** SEED_COMMIT_BYTES makes seeding durable in steps, so memory stays bounded on a large copy. */
const SEED_COMMIT_BYTES = 64 * 1024 * 1024;

/** SeedReport says what seeding found in a mirror's directory. */
export interface SeedReport {
  files: number;
  bytes: number;
  /** Bytes that were not yet in the chunk store. */
  newBytes: number;
}

/**
 * seedFromDirectory reads the files already in a new mirror's directory (a copy brought on a
 * disk, or an older mirror) into the chunk store, so that only chunks it does not have cross
 * the wire. Nothing in the directory is changed; a file that cannot be read is skipped.
 */
export async function seedFromDirectory(
  root: string,
  store: ChunkStore,
  catalog: Catalog,
): Promise<SeedReport> {
  const report: SeedReport = { files: 0, bytes: 0, newBytes: 0 };
  let uncommitted = 0;
  const commit = async () => {
    await store.sync();
    inTransaction(catalog, () => store.commitPending());
    uncommitted = 0;
  };
  for await (const { path, isFile } of walk(root, '')) {
    if (!isFile) continue;
    const got = await ingestFile(join(root, path), store).catch(() => null);
    if (!got) continue;
    report.files++;
    report.bytes += got.size;
    report.newBytes += got.newBytes;
    uncommitted += got.newBytes;
    if (uncommitted >= SEED_COMMIT_BYTES) await commit();
  }
  await commit();
  return report;
}

/**
 * removeExtras deletes from a view what the timeline does not hold at the view's position
 * `appliedSeq`: the files a seed copy had that the primary no longer has. It must run while
 * nothing else writes the view (the apply loop stopped). Returns how many entries it removed.
 */
export async function removeExtras(
  catalog: Catalog,
  volume: string,
  root: string,
  appliedSeq: number,
  keep: (path: string, isDir: boolean) => boolean = () => false,
): Promise<number> {
  let removed = 0;
  const skip = new Set<string>();
  for await (const { path, isDir } of walk(root, '', skip)) {
    if (keep(path, isDir)) {
      if (isDir) skip.add(path);
      continue;
    }
    if (versionAt(catalog, volume, path, appliedSeq) !== null) continue;
    // Not in the timeline at this moment: an extra from the seed. Never followed if a link.
    await fsp.rm(join(root, path), { recursive: true, force: true });
    skip.add(path);
    removed++;
  }
  return removed;
}

/** walkTree yields every entry beneath `root`/`rel` (staging files left out), parents first. */
export const walkTree = (root: string, rel = '') => walk(root, rel);

/** walk yields every entry beneath `root`/`rel` (relative paths, parents first), skipping staging files and `skip`ped dirs. */
async function* walk(
  root: string,
  rel: string,
  skip: Set<string> = new Set(),
): AsyncGenerator<{ path: string; isFile: boolean; isDir: boolean }> {
  const dir = await fsp.opendir(join(root, rel)).catch(() => null);
  if (!dir) return;
  const subdirs: string[] = [];
  for await (const entry of dir) {
    if (isStagingName(entry.name)) continue;
    const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
    yield { path, isFile: entry.isFile(), isDir: entry.isDirectory() };
    if (entry.isDirectory()) subdirs.push(path);
  }
  for (const sub of subdirs) if (!skip.has(sub)) yield* walk(root, sub, skip);
}
