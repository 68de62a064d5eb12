import { createHash } from 'node:crypto';
import { createReadStream, readdirSync } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * TreeRecord is one entry of a directory tree as the tree-hash oracle sees it: everything a
 * mirror must reproduce (type, permission bits, size, content, link target) and nothing it may
 * legitimately differ in (owner, timestamps, inode numbers, directory sizes).
 */
export interface TreeRecord {
  /** path relative to the tree root, '/'-separated, never starting with '/'. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  /** permission bits (mode & 0o7777); 0 for symlinks, whose mode Linux does not keep. */
  mode: number;
  /** size in bytes for files, 0 otherwise. */
  size: number;
  /** SHA-256 hex of the content for files, '' otherwise. */
  hash: string;
  /** link target for symlinks, '' otherwise. */
  target: string;
}

/** TreeOptions selects what a tree walk skips. */
export interface TreeOptions {
  /** exclude returns true for a relative path (file or directory) to leave out with its subtree. */
  exclude?: (relPath: string) => boolean;
}

const READ_CHUNK = 1024 * 1024;
const PARALLEL_FILES = 16;

/**
 * treeListing returns the records of every entry below `dir` (not `dir` itself), sorted by path,
 * so that two trees can be compared line by line in an assertion diff.
 */
export async function treeListing(dir: string, options: TreeOptions = {}): Promise<TreeRecord[]> {
  const records: TreeRecord[] = [];
  const pending: string[] = [''];
  while (pending.length > 0) {
    const rel = pending.pop()!;
    const entries = await readdir(path.join(dir, rel));
    const children: TreeRecord[] = [];
    const batch: Promise<TreeRecord>[] = [];
    for (const name of entries) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      if (options.exclude?.(childRel)) continue;
      batch.push(recordOf(dir, childRel));
      // Bound the open files: hashing a directory of 50,000 entries must not open them all at once.
      if (batch.length >= PARALLEL_FILES) children.push(...(await Promise.all(batch.splice(0))));
    }
    children.push(...(await Promise.all(batch)));
    for (const r of children) {
      records.push(r);
      if (r.type === 'dir') pending.push(r.path);
    }
  }
  records.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return records;
}

/** treeHash returns a SHA-256 hex digest over the sorted records of the tree below `dir`. */
export async function treeHash(dir: string, options: TreeOptions = {}): Promise<string> {
  const h = createHash('sha256');
  for (const r of await treeListing(dir, options)) h.update(`${formatRecord(r)}\n`);
  return h.digest('hex');
}

/** formatRecord renders one record as a single readable line (also the hashed form). */
export function formatRecord(r: TreeRecord): string {
  const mode = r.mode.toString(8).padStart(4, '0');
  return `${JSON.stringify(r.path)} ${r.type} ${mode} ${r.size} ${r.hash} ${JSON.stringify(r.target)}`;
}

/**
 * diffListings describes how listing `b` differs from listing `a` ('-' only in a, '+' only in b,
 * '~' in both but different), at most `limit` lines, for a failing convergence assertion.
 */
export function diffListings(a: TreeRecord[], b: TreeRecord[], limit = 50): string {
  const byPath = new Map(b.map((r) => [r.path, r]));
  const lines: string[] = [];
  for (const ra of a) {
    const rb = byPath.get(ra.path);
    byPath.delete(ra.path);
    if (rb === undefined) lines.push(`- ${formatRecord(ra)}`);
    else if (formatRecord(ra) !== formatRecord(rb))
      lines.push(`~ ${formatRecord(ra)}\n  ${formatRecord(rb)}`);
  }
  for (const rb of byPath.values()) lines.push(`+ ${formatRecord(rb)}`);
  const more = lines.length > limit ? [`... and ${lines.length - limit} more differences`] : [];
  return [...lines.slice(0, limit), ...more].join('\n');
}

/** hashFile streams a file through SHA-256 in 1 MiB reads, so memory stays bounded. */
export async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK })) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function recordOf(root: string, rel: string): Promise<TreeRecord> {
  const abs = path.join(root, rel);
  const st = await lstat(abs);
  const base = { path: rel, mode: st.mode & 0o7777, size: 0, hash: '', target: '' };
  if (st.isFile()) {
    // One read is far cheaper than a stream for the many small files of a typical tree.
    const hash = st.size <= READ_CHUNK ? sha256(await readFile(abs)) : await hashFile(abs);
    return { ...base, type: 'file', size: st.size, hash };
  }
  if (st.isDirectory()) return { ...base, type: 'dir' };
  if (st.isSymbolicLink()) return { ...base, type: 'symlink', mode: 0, target: await readlink(abs) };
  return { ...base, type: 'other' };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** stagingFilesIn lists the staging files (`.hindsight-staging-*`) anywhere beneath `dir`: after recovery there must be none. */
export function stagingFilesIn(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.name.startsWith('.hindsight-staging-'))
    .map((e) => path.join(e.parentPath, e.name));
}
