import {
  appendFile,
  chmod,
  mkdir,
  readdir,
  rename,
  rmdir,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import type { Rng } from './rng.ts';

/** MutationKind names one kind of random edit that mutate performs. */
export type MutationKind =
  | 'overwrite'
  | 'append'
  | 'truncate'
  | 'rename-file'
  | 'rename-dir'
  | 'delete-file'
  | 'mkdir'
  | 'rmdir'
  | 'chmod'
  | 'create';

/** Mutation is one edit that mutate made, relative to the tree root, for logs and replays. */
export interface Mutation {
  kind: MutationKind;
  path: string;
  to?: string;
  /** bytes of new content written (create, overwrite, append); absent for the other kinds. */
  bytes?: number;
}

const KINDS: MutationKind[] = [
  'overwrite',
  'append',
  'truncate',
  'rename-file',
  'rename-dir',
  'delete-file',
  'mkdir',
  'rmdir',
  'chmod',
  'create',
];
const MODES = [0o600, 0o644, 0o640, 0o755];
const MAX_EDIT_BYTES = 64 * 1024;

/**
 * mutate makes `n` seeded random edits below `dir` — overwrite, append, truncate, rename a file
 * or a directory, delete, mkdir, rmdir, chmod, create — for change storms, and returns them in
 * order. It walks the tree before each edit, so it suits trees of up to a few thousand entries;
 * symlinks are renamed or deleted but never written through. Files and links for which
 * `options.spare` returns true are left alone (a test's marker file, which the test watches).
 */
export async function mutate(
  dir: string,
  rng: Rng,
  n: number,
  options: { spare?: (rel: string) => boolean } = {},
): Promise<Mutation[]> {
  const done: Mutation[] = [];
  let nameCounter = 0;
  const freshName = (prefix: string) =>
    `${prefix}-${rng.seed.toString(36)}-${nameCounter++}-${rng.int(0, 1e6)}`;
  const spare = options.spare ?? (() => false);
  for (let i = 0; i < n; i++) {
    const tree = await walk(dir);
    const { dirs } = tree;
    const files = tree.files.filter((f) => !spare(f));
    const links = tree.links.filter((l) => !spare(l));
    const kind = rng.pick(KINDS);
    const anyDir = () => rng.pick(['', ...dirs]);
    const abs = (rel: string) => path.join(dir, rel);
    if (kind === 'create' || (files.length === 0 && kind !== 'mkdir')) {
      const rel = path.posix.join(anyDir(), `${freshName('new')}.dat`);
      const bytes = rng.int(0, MAX_EDIT_BYTES);
      await writeFile(abs(rel), rng.bytes(bytes));
      done.push({ kind: 'create', path: rel, bytes });
      continue;
    }
    const file = rng.pick(files);
    switch (kind) {
      case 'overwrite': {
        const bytes = rng.int(0, MAX_EDIT_BYTES);
        await writeFile(abs(file), rng.bytes(bytes));
        done.push({ kind, path: file, bytes });
        break;
      }
      case 'append': {
        const bytes = rng.int(1, MAX_EDIT_BYTES);
        await appendFile(abs(file), rng.bytes(bytes));
        done.push({ kind, path: file, bytes });
        break;
      }
      case 'truncate':
        await truncate(abs(file), rng.int(0, 1024));
        done.push({ kind, path: file });
        break;
      case 'rename-file': {
        const from = rng.chance(0.2) && links.length > 0 ? rng.pick(links) : file;
        const to = path.posix.join(anyDir(), freshName('moved'));
        await rename(abs(from), abs(to));
        done.push({ kind, path: from, to });
        break;
      }
      case 'rename-dir': {
        if (dirs.length === 0) break;
        const from = rng.pick(dirs);
        // A directory cannot move into its own subtree; pick a target outside it.
        const targets = ['', ...dirs].filter((d) => d !== from && !d.startsWith(`${from}/`));
        const to = path.posix.join(rng.pick(targets), freshName('dir'));
        await rename(abs(from), abs(to));
        done.push({ kind, path: from, to });
        break;
      }
      case 'delete-file': {
        const victim = rng.chance(0.2) && links.length > 0 ? rng.pick(links) : file;
        await unlink(abs(victim));
        done.push({ kind, path: victim });
        break;
      }
      case 'mkdir': {
        const rel = path.posix.join(anyDir(), freshName('dir'));
        await mkdir(abs(rel));
        done.push({ kind, path: rel });
        break;
      }
      case 'rmdir': {
        const empty = await emptyDirs(dir, dirs);
        if (empty.length === 0) break;
        const rel = rng.pick(empty);
        await rmdir(abs(rel));
        done.push({ kind, path: rel });
        break;
      }
      case 'chmod':
        await chmod(abs(file), rng.pick(MODES));
        done.push({ kind, path: file });
        break;
    }
  }
  return done;
}

async function walk(dir: string): Promise<{ files: string[]; dirs: string[]; links: string[] }> {
  const files: string[] = [];
  const dirs: string[] = [];
  const links: string[] = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    const rel = path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/');
    if (e.isFile()) files.push(rel);
    else if (e.isDirectory()) dirs.push(rel);
    else if (e.isSymbolicLink()) links.push(rel);
  }
  return { files: files.sort(), dirs: dirs.sort(), links: links.sort() };
}

async function emptyDirs(root: string, dirs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const d of dirs) if ((await readdir(path.join(root, d))).length === 0) out.push(d);
  return out;
}
