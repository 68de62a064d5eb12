import {
  appendFile,
  chmod,
  mkdir,
  open,
  readdir,
  rename,
  rmdir,
  symlink,
  truncate,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import type { Rng } from './rng.ts';

/**
 * The chaos workload: seeded random file operations for the fault suites, of every kind a mirror
 * must reproduce except hard links (each name is mirrored as its own file). Where `mutate`
 * (mutate.ts) makes plain edits for change storms, this one also writes at offsets, grows files
 * with holes, renames over existing files and across directories, makes symlinks and sparse
 * files, turns a path into another kind of entry, changes only a modification time, and uses
 * awkward names. Every operation is returned, so a failing seed can be read back step by step.
 */

/** ChaosOpKind names one kind of operation of the chaos workload. */
export type ChaosOpKind =
  | 'create'
  | 'write-at'
  | 'append'
  | 'truncate-down'
  | 'truncate-up'
  | 'rename-over'
  | 'rename-across'
  | 'rename-dir'
  | 'delete'
  | 'mkdir'
  | 'rmdir'
  | 'chmod'
  | 'symlink'
  | 'sparse'
  | 'large'
  | 'replace-type'
  | 'touch';

/** ChaosOp is one operation done, relative to the tree root. */
export interface ChaosOp {
  kind: ChaosOpKind;
  path: string;
  to?: string;
  bytes?: number;
}

/** Weights: edits of existing files dominate, as on a real file share. */
const KINDS: [ChaosOpKind, number][] = [
  ['create', 6],
  ['write-at', 5],
  ['append', 3],
  ['truncate-down', 2],
  ['truncate-up', 2],
  ['rename-over', 2],
  ['rename-across', 2],
  ['rename-dir', 1],
  ['delete', 3],
  ['mkdir', 2],
  ['rmdir', 1],
  ['chmod', 2],
  ['symlink', 1],
  ['sparse', 1],
  ['large', 1],
  ['replace-type', 1],
  ['touch', 1],
];

/**
 * Names a careful administrator has seen on real shares: spaces, accents composed and
 * decomposed, scripts, emoji, a leading dash, quotes, percent and hash signs, a tab, a hidden
 * file, and a name of 200 bytes.
 */
const AWKWARD = [
  'with space',
  'café',
  'cafe\u0301 decomposed',
  '日本語',
  'emoji 🎉',
  '-leading-dash',
  "quote's",
  'percent%20sign',
  'hash#tag',
  'tab\tinside',
  '.hidden',
  'x'.repeat(200),
];

const MODES = [0o600, 0o644, 0o640, 0o755];
const MAX_EDIT = 64 * 1024;
const MAX_SPARSE = 16 * 1024 * 1024;
const MAX_LARGE = 4 * 1024 * 1024;

/** ChaosWorkload runs the operations on one tree; names stay unique across calls. */
export class ChaosWorkload {
  readonly dir: string;
  readonly #rng: Rng;
  #counter = 0;

  constructor(dir: string, rng: Rng) {
    this.dir = dir;
    this.#rng = rng;
  }

  /** run performs `n` operations and returns them in order. */
  async run(n: number): Promise<ChaosOp[]> {
    const done: ChaosOp[] = [];
    for (let i = 0; i < n; i++) {
      const op = await this.#one(this.#pickKind(), await walk(this.dir));
      if (op) done.push(op);
    }
    return done;
  }

  #pickKind(): ChaosOpKind {
    const total = KINDS.reduce((sum, [, w]) => sum + w, 0);
    let at = this.#rng.int(1, total);
    for (const [kind, w] of KINDS) {
      at -= w;
      if (at <= 0) return kind;
    }
    return 'create';
  }

  #name(prefix: string): string {
    const rng = this.#rng;
    // Directories never take the 200-byte name, so nested paths stay well within PATH_MAX.
    const names = prefix === 'd' ? AWKWARD.slice(0, -1) : AWKWARD;
    const base = rng.chance(0.3) ? rng.pick(names) : prefix;
    // The counter keeps names unique; a 200-byte base leaves room for it within NAME_MAX (255).
    return `${base}-${this.#counter++}`;
  }

  #abs(rel: string): string {
    return path.join(this.dir, rel);
  }

  async #one(kind: ChaosOpKind, tree: Tree): Promise<ChaosOp | undefined> {
    const rng = this.#rng;
    const anyDir = () => rng.pick(['', ...tree.dirs]);
    const newFile = () => path.posix.join(anyDir(), this.#name('f'));
    if (tree.files.length === 0 && kind !== 'mkdir' && kind !== 'sparse' && kind !== 'large') {
      kind = 'create';
    }
    const file = tree.files.length > 0 ? rng.pick(tree.files) : '';
    switch (kind) {
      case 'create': {
        const rel = newFile();
        const bytes = rng.int(0, MAX_EDIT);
        await writeFile(this.#abs(rel), rng.bytes(bytes));
        return { kind, path: rel, bytes };
      }
      case 'write-at': {
        // Anywhere up to a little past the end: a write beyond it leaves a hole.
        const fh = await open(this.#abs(file), 'r+');
        try {
          const { size } = await fh.stat();
          const bytes = rng.int(1, 16 * 1024);
          await fh.write(rng.bytes(bytes), 0, bytes, rng.int(0, size + 8192));
          return { kind, path: file, bytes };
        } finally {
          await fh.close();
        }
      }
      case 'append': {
        const bytes = rng.int(1, MAX_EDIT);
        await appendFile(this.#abs(file), rng.bytes(bytes));
        return { kind, path: file, bytes };
      }
      case 'truncate-down': {
        const bytes = rng.int(0, 2048);
        await truncate(this.#abs(file), bytes);
        return { kind, path: file, bytes };
      }
      case 'truncate-up': {
        const bytes = rng.int(MAX_EDIT, 4 * MAX_EDIT);
        await truncate(this.#abs(file), bytes);
        return { kind, path: file, bytes };
      }
      case 'rename-over': {
        const target = rng.pick(tree.files);
        if (target === file) return undefined;
        await rename(this.#abs(file), this.#abs(target));
        return { kind, path: file, to: target };
      }
      case 'rename-across': {
        const from = rng.chance(0.2) && tree.links.length > 0 ? rng.pick(tree.links) : file;
        const to = newFile();
        await rename(this.#abs(from), this.#abs(to));
        return { kind, path: from, to };
      }
      case 'rename-dir': {
        if (tree.dirs.length === 0) return undefined;
        const from = rng.pick(tree.dirs);
        // A directory cannot move into its own subtree.
        const targets = ['', ...tree.dirs].filter((d) => d !== from && !d.startsWith(`${from}/`));
        const to = path.posix.join(rng.pick(targets), this.#name('d'));
        await rename(this.#abs(from), this.#abs(to));
        return { kind, path: from, to };
      }
      case 'delete': {
        const victim = rng.chance(0.2) && tree.links.length > 0 ? rng.pick(tree.links) : file;
        await unlink(this.#abs(victim));
        return { kind, path: victim };
      }
      case 'mkdir': {
        const rel = path.posix.join(anyDir(), this.#name('d'));
        await mkdir(this.#abs(rel));
        return { kind, path: rel };
      }
      case 'rmdir': {
        const empty: string[] = [];
        for (const d of tree.dirs) if ((await readdir(this.#abs(d))).length === 0) empty.push(d);
        if (empty.length === 0) return undefined;
        const rel = rng.pick(empty);
        await rmdir(this.#abs(rel));
        return { kind, path: rel };
      }
      case 'chmod':
        await chmod(this.#abs(file), rng.pick(MODES));
        return { kind, path: file };
      case 'symlink': {
        const rel = newFile();
        // Relative to a file of the tree, or dangling; never written through by the workload.
        const target = rng.chance(0.7)
          ? path.posix.relative(path.posix.dirname(rel), file)
          : 'no/such/target';
        await symlink(target, this.#abs(rel));
        return { kind, path: rel, to: target };
      }
      case 'sparse': {
        // A file mostly of holes, with a few blocks of data at random offsets.
        const rel = newFile();
        const size = rng.int(MAX_EDIT, MAX_SPARSE);
        const fh = await open(this.#abs(rel), 'w');
        try {
          await fh.truncate(size);
          for (let i = rng.int(1, 4); i > 0; i--) {
            await fh.write(rng.bytes(4096), 0, 4096, rng.int(0, size - 4096));
          }
        } finally {
          await fh.close();
        }
        return { kind, path: rel, bytes: size };
      }
      case 'replace-type': {
        // The same path becomes another kind of entry: a link a file, a file a directory or a link.
        if (tree.links.length > 0 && rng.chance(0.3)) {
          const link = rng.pick(tree.links);
          await unlink(this.#abs(link));
          await writeFile(this.#abs(link), rng.bytes(rng.int(0, 4096)));
          return { kind, path: link, to: 'file' };
        }
        await unlink(this.#abs(file));
        if (rng.chance(0.5)) {
          await mkdir(this.#abs(file));
          return { kind, path: file, to: 'directory' };
        }
        await symlink('no/such/target', this.#abs(file));
        return { kind, path: file, to: 'symlink' };
      }
      case 'touch': {
        // Only the modification time changes: a mirror must carry it without new content.
        const at = new Date(Date.UTC(2020, 0, 1) + rng.int(0, 5 * 365) * 86_400_000);
        await utimes(this.#abs(file), at, at);
        return { kind, path: file };
      }
      case 'large': {
        const rel = newFile();
        const bytes = rng.int(MAX_EDIT, MAX_LARGE);
        await writeFile(this.#abs(rel), rng.bytes(bytes));
        return { kind, path: rel, bytes };
      }
    }
  }
}

interface Tree {
  files: string[];
  dirs: string[];
  links: string[];
}

async function walk(dir: string): Promise<Tree> {
  const tree: Tree = { files: [], dirs: [], links: [] };
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const rel = path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/');
    if (e.isFile()) tree.files.push(rel);
    else if (e.isDirectory()) tree.dirs.push(rel);
    else if (e.isSymbolicLink()) tree.links.push(rel);
  }
  // readdir's order is the file system's; sorting keeps a seed repeatable.
  tree.files.sort();
  tree.dirs.sort();
  tree.links.sort();
  return tree;
}
