import { createHash, randomInt } from 'node:crypto';
import { lstat, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../core/index.ts';
import type { ManifestEntry, Repository, Snapshot } from './repository.ts';

/** VerifyReport is what `backup verify` found on one tier. */
export interface VerifyReport {
  snapshots: number;
  manifests: number;
  chunks: number;
  packs: number;
  /** Packs read whole and every chunk in them checked (the `--read-data` share). */
  packsRead: number;
  /** What is wrong, in words, naming the files a damaged chunk belongs to. */
  problems: string[];
}

/**
 * verifyRepository checks the structure of a repository — every backup's manifest opens, every
 * chunk a manifest names is in the index — and reads `readShare` (0 to 1) of the packs whole,
 * checking each chunk against its id.
 */
export async function verifyRepository(repo: Repository, readShare: number): Promise<VerifyReport> {
  const report: VerifyReport = {
    snapshots: 0,
    manifests: 0,
    chunks: 0,
    packs: 0,
    packsRead: 0,
    problems: [],
  };
  const places = new Map(repo.chunkPlaces());
  const filesOf = new Map<string, string>();
  const seenManifests = new Set<string>();
  for (const s of await repo.snapshots()) {
    report.snapshots++;
    let entries: ManifestEntry[];
    try {
      entries = await repo.manifest(s);
    } catch (err) {
      report.problems.push(
        `backup ${s.id} of ${s.volume}: its manifest cannot be read: ${errorMessage(err)}`,
      );
      continue;
    }
    if (!seenManifests.has(s.manifest)) {
      seenManifests.add(s.manifest);
      report.manifests++;
    }
    for (const e of entries) {
      for (const c of e.chunks) {
        if (!filesOf.has(c)) filesOf.set(c, `${s.volume}/${e.path}`);
        if (!places.has(c))
          report.problems.push(`${s.volume}/${e.path} (backup ${s.id}): a chunk is missing from the index`);
      }
    }
  }
  const packs = new Map<string, string[]>();
  for (const [id, place] of places) packs.set(place.pack, [...(packs.get(place.pack) ?? []), id]);
  report.packs = packs.size;
  report.chunks = places.size;
  const toRead = Math.ceil(packs.size * Math.min(1, Math.max(0, readShare)));
  const order = [...packs.keys()];
  for (let i = order.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (const pack of order.slice(0, toRead)) {
    report.packsRead++;
    for (const id of packs.get(pack) ?? []) {
      try {
        await repo.readChunk(id, filesOf.get(id) ?? `an unused chunk of ${pack}`);
      } catch (err) {
        report.problems.push(errorMessage(err));
      }
    }
  }
  return report;
}

/**
 * checkRestored compares a restored tree with the manifest of its backup: every entry there,
 * of its kind, size and mode, a file's content hashing to the same chunks the backup holds
 * (read back through the repository), a link with its target. Returns the differences.
 */
export async function checkRestored(repo: Repository, snapshot: Snapshot, into: string): Promise<string[]> {
  const problems: string[] = [];
  for (const e of await repo.manifest(snapshot)) {
    const abs = join(into, e.path);
    const st = await lstat(abs).catch(() => null);
    if (!st) {
      problems.push(`${e.path}: missing`);
      continue;
    }
    if (e.kind === 'mkdir' && !st.isDirectory()) problems.push(`${e.path}: not a directory`);
    if (e.kind === 'symlink' && (!st.isSymbolicLink() || (await readlink(abs)) !== e.target))
      problems.push(`${e.path}: not the link it was`);
    if (e.kind !== 'put') continue;
    if (!st.isFile() || st.size !== e.size) {
      problems.push(`${e.path}: ${st.size} bytes, the backup has ${e.size}`);
      continue;
    }
    if ((st.mode & 0o7777) !== e.mode)
      problems.push(
        `${e.path}: mode ${(st.mode & 0o7777).toString(8)}, the backup has ${e.mode.toString(8)}`,
      );
    const onDisk = createHash('sha256')
      .update(await readFile(abs))
      .digest('hex');
    const inBackup = createHash('sha256');
    for (const c of e.chunks) inBackup.update(await repo.readChunk(c, e.path));
    if (onDisk !== inBackup.digest('hex')) problems.push(`${e.path}: its content differs from the backup`);
  }
  return problems;
}
