import fs from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { FileOps } from '../../src/sys/index.ts';
import type { Rng } from './rng.ts';

/**
 * CrashFs is an in-process power cut for our storage code, after SQLite's crash-test VFS and
 * CrashMonkey/ALICE: a FileOps that performs every call on real files under `root` and keeps
 * beside them a model of what the disk has made durable. `crash(rng, out)` writes one state
 * the disk could hold after a power cut at that moment into the directory `out`.
 *
 * The crash model (what a Linux file system may keep of what was not synced):
 *
 * - File data and directory entries are independent: an fsync or fdatasync of a file makes
 *   its data and size durable, never its name; an fsync of a directory makes its entries
 *   durable, never the data of the files they name (POSIX, and fsync(2) on Linux).
 * - Per file, every write since the last fsync is on its own dropped (40 %) or kept. A kept
 *   write may be torn (25 %): only a prefix reaches the disk, cut at a 512-byte sector boundary
 *   of the file in 80 % of the torn writes that cross one, and at any byte in the other 20 %
 *   (and always when no boundary lies inside the write). A kept write that was not torn may be
 *   zeroed (5 %): the size grew but the data never came (ext4 data=writeback, XFS). Dropped
 *   data inside the file reads as the old bytes; a hole left before a kept write reads as zeros.
 * - Per directory, every create, rename and unlink since its last fsync is on its own dropped
 *   or kept (50 %), and the kept ones happen in their order. A kept rename carries its inode:
 *   the new name appears even if the create before it was lost. A directory whose own entry is
 *   lost takes everything beneath it along, synced or not.
 * - What existed under `root` when the CrashFs was made counts as durable.
 *
 * Dropping each operation on its own is a superset of what a journaling file system does
 * (ext4 and XFS commit metadata in order, so they keep a prefix): an invariant that holds here
 * holds there. Not modelled: renames across directories and of directories, hard links,
 * O_TRUNC, and file systems that lie about fsync.
 *
 * `crashAfter` crashes the machine at a chosen point: the call that would be number
 * `crashAfter + 1` throws CrashError without doing anything, and so does every later call but
 * close. Nothing is ever really fsynced: the model decides what would have survived.
 */
export class CrashFs implements FileOps {
  readonly root: string;
  /** How many calls may run before the crash (Infinity: none until `crash`). */
  crashAfter = Number.POSITIVE_INFINITY;
  /** How many calls that change or sync something have run. */
  calls = 0;
  isCrashed = false;
  private readonly inodes = new Map<number, Inode>();
  /** Real inode number → model inode, for the files that have a name now. */
  private readonly byIno = new Map<number, number>();
  private readonly dirs = new Map<string, Dir>();
  private readonly fds = new Map<number, { inode: number } | { dir: string }>();
  private nextInode = 1;

  /** The constructor takes everything under `root` (which must exist) as durable. */
  constructor(root: string) {
    this.root = root;
    this.scan(root);
  }

  private scan(path: string): void {
    const dir: Dir = { durable: new Map(), pending: [] };
    this.dirs.set(path, dir);
    for (const ent of fs.readdirSync(path, { withFileTypes: true })) {
      const full = join(path, ent.name);
      if (ent.isDirectory()) {
        dir.durable.set(ent.name, { kind: 'dir' });
        this.scan(full);
      } else if (ent.isFile()) {
        const inode = this.newInode(fs.statSync(full).ino, fs.readFileSync(full));
        dir.durable.set(ent.name, { kind: 'file', inode });
      } else {
        throw new Error(`crash-fs: ${full} is neither a file nor a directory`);
      }
    }
  }

  private newInode(ino: number, content: Buffer): number {
    const id = this.nextInode++;
    this.inodes.set(id, { current: Buffer.from(content), durable: Buffer.from(content), pending: [] });
    this.byIno.set(ino, id);
    return id;
  }

  /** step counts a call, or refuses it once the machine has crashed. */
  private step(what: string, path?: string): void {
    if (path !== undefined && relative(this.root, path).startsWith('..')) {
      throw new Error(`crash-fs: ${what} of ${path} outside ${this.root}`);
    }
    if (!this.isCrashed && this.calls >= this.crashAfter) this.isCrashed = true;
    if (this.isCrashed) throw new CrashError(what);
    this.calls++;
  }

  private dirOf(path: string): Dir {
    const dir = this.dirs.get(path);
    if (dir === undefined) throw new Error(`crash-fs: directory ${path} is not tracked`);
    return dir;
  }

  openSync(path: string, flags: number, mode?: number): number {
    this.step('open', path);
    if ((flags & fs.constants.O_TRUNC) !== 0) throw new Error('crash-fs: O_TRUNC is not modelled');
    const existed = fs.existsSync(path);
    const fd = fs.openSync(path, flags, mode);
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) {
      this.dirOf(path);
      this.fds.set(fd, { dir: path });
      return fd;
    }
    let inode = this.byIno.get(st.ino);
    if (!existed || inode === undefined) {
      if (existed) throw new Error(`crash-fs: ${path} was made behind its back`);
      inode = this.newInode(st.ino, Buffer.alloc(0));
      this.dirOf(dirname(path)).pending.push({
        kind: 'link',
        name: basename(path),
        entry: { kind: 'file', inode },
      });
    }
    this.fds.set(fd, { inode });
    return fd;
  }

  async open(path: string, flags: number, mode?: number): Promise<number> {
    return this.openSync(path, flags, mode);
  }

  closeSync(fd: number): void {
    // Closing changes nothing on disk; it is allowed after the crash so tests can clean up.
    this.fds.delete(fd);
    fs.closeSync(fd);
  }

  async close(fd: number): Promise<void> {
    this.closeSync(fd);
  }

  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    this.step('write');
    const inode = this.inodeOf(fd);
    const n = fs.writeSync(fd, buffer, offset, length, position);
    const data = Buffer.from(buffer.subarray(offset, offset + n));
    inode.current = place(inode.current, position, data);
    inode.pending.push({ position, data });
    return n;
  }

  async write(
    fd: number,
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<number> {
    return this.writeSync(fd, buffer, offset, length, position);
  }

  async fsync(fd: number): Promise<void> {
    this.step('fsync');
    const f = this.fds.get(fd);
    if (f !== undefined && 'dir' in f) {
      const dir = this.dirOf(f.dir);
      dir.durable = entriesAfter(dir.durable, dir.pending);
      dir.pending = [];
      return;
    }
    const inode = this.inodeOf(fd);
    inode.durable = Buffer.from(inode.current);
    inode.pending = [];
  }

  async fdatasync(fd: number): Promise<void> {
    if ('dir' in (this.fds.get(fd) ?? {})) throw new Error('crash-fs: fdatasync of a directory');
    await this.fsync(fd);
  }

  mkdirSync(path: string, options: { recursive: boolean; mode: number }): string | undefined {
    this.step('mkdir', path);
    const missing: string[] = [];
    for (let p = path; !fs.existsSync(p); p = dirname(p)) missing.unshift(p);
    const first = fs.mkdirSync(path, options);
    for (const p of missing) {
      this.dirOf(dirname(p)).pending.push({ kind: 'link', name: basename(p), entry: { kind: 'dir' } });
      this.dirs.set(p, { durable: new Map(), pending: [] });
    }
    return first;
  }

  async rename(from: string, to: string): Promise<void> {
    this.step('rename', to);
    if (dirname(from) !== dirname(to))
      throw new Error('crash-fs: a rename across directories is not modelled');
    const dir = this.dirOf(dirname(from));
    const entry = entriesAfter(dir.durable, dir.pending).get(basename(from));
    if (entry?.kind !== 'file') throw new Error(`crash-fs: rename of ${from}, not a tracked file`);
    const replaced = fs.existsSync(to) ? fs.lstatSync(to).ino : undefined;
    fs.renameSync(from, to);
    if (replaced !== undefined) this.byIno.delete(replaced);
    dir.pending.push({ kind: 'rename', from: basename(from), to: basename(to), entry });
  }

  unlinkSync(path: string): void {
    this.step('unlink', path);
    if (!fs.existsSync(path)) return;
    const ino = fs.lstatSync(path).ino;
    fs.unlinkSync(path);
    this.byIno.delete(ino);
    this.dirOf(dirname(path)).pending.push({ kind: 'unlink', name: basename(path) });
  }

  async unlink(path: string): Promise<void> {
    this.unlinkSync(path);
  }

  /**
   * kill is a kill -9 of the process, not a power cut: every descriptor opened through this
   * CrashFs is closed and nothing is synced; what was written stays in the page cache, and a
   * later crash may still keep or drop it. The code that held the descriptors must not run again.
   */
  kill(): void {
    for (const fd of this.fds.keys()) fs.closeSync(fd);
    this.fds.clear();
  }

  /** isDirectory tells whether `fd` was opened on a directory (for the broken variants). */
  isDirectory(fd: number): boolean {
    return 'dir' in (this.fds.get(fd) ?? {});
  }

  private inodeOf(fd: number): Inode {
    const f = this.fds.get(fd);
    if (f === undefined || !('inode' in f))
      throw new Error(`crash-fs: descriptor ${fd} is not a tracked file`);
    return this.inodes.get(f.inode)!;
  }

  /**
   * crash cuts the power: no call succeeds afterwards, and `out` (which must not exist)
   * receives one post-crash state of `root`, chosen by `rng` under the model above.
   */
  crash(rng: Rng, out: string): CrashStats {
    this.isCrashed = true;
    const stats: CrashStats = {
      writesDropped: 0,
      writesKept: 0,
      writesTorn: 0,
      entriesDropped: 0,
      entriesKept: 0,
    };
    const contents = new Map<number, Buffer>();
    const contentOf = (id: number): Buffer => {
      let c = contents.get(id);
      if (c === undefined) {
        c = survivingContent(this.inodes.get(id)!, rng, stats);
        contents.set(id, c);
      }
      return c;
    };
    const materialize = (path: string, to: string): void => {
      fs.mkdirSync(to, { mode: 0o700 });
      const dir = this.dirOf(path);
      const kept = dir.pending.filter(() => {
        const isKept = rng.chance(0.5);
        if (isKept) stats.entriesKept++;
        else stats.entriesDropped++;
        return isKept;
      });
      for (const [name, entry] of entriesAfter(dir.durable, kept)) {
        if (entry.kind === 'dir') materialize(join(path, name), join(to, name));
        else fs.writeFileSync(join(to, name), contentOf(entry.inode), { mode: 0o600 });
      }
    };
    materialize(this.root, out);
    return stats;
  }
}

/** CrashError is what every call throws once the machine has crashed. */
export class CrashError extends Error {
  constructor(call: string) {
    super(`crash-fs: the machine crashed before ${call}`);
    this.name = 'CrashError';
  }
}

/** isCrash tells whether `err`, or an error it wraps (`cause`), is a CrashError. */
export function isCrash(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (e instanceof CrashError) return true;
  return false;
}

/** CrashStats counts what one crash dropped and kept, to show that trials reach every case. */
export interface CrashStats {
  writesDropped: number;
  writesKept: number;
  writesTorn: number;
  entriesDropped: number;
  entriesKept: number;
}

/**
 * withoutDirectorySync is a deliberately broken file system for the positive control: an fsync
 * of a directory does nothing, as if the code renamed or created without syncing the directory.
 */
export function withoutDirectorySync(crash: CrashFs): FileOps {
  return broken(crash, {
    fsync: async (fd) => {
      if (!crash.isDirectory(fd)) await crash.fsync(fd);
    },
  });
}

/** withoutFdatasync is a deliberately broken file system for the positive control: fdatasync does nothing. */
export function withoutFdatasync(crash: CrashFs): FileOps {
  return broken(crash, { fdatasync: async () => {} });
}

function broken(crash: CrashFs, override: Partial<FileOps>): FileOps {
  return {
    openSync: (path, flags, mode) => crash.openSync(path, flags, mode),
    open: (path, flags, mode) => crash.open(path, flags, mode),
    closeSync: (fd) => crash.closeSync(fd),
    close: (fd) => crash.close(fd),
    writeSync: (fd, b, o, l, p) => crash.writeSync(fd, b, o, l, p),
    write: (fd, b, o, l, p) => crash.write(fd, b, o, l, p),
    fsync: (fd) => crash.fsync(fd),
    fdatasync: (fd) => crash.fdatasync(fd),
    mkdirSync: (path, options) => crash.mkdirSync(path, options),
    rename: (from, to) => crash.rename(from, to),
    unlinkSync: (path) => crash.unlinkSync(path),
    unlink: (path) => crash.unlink(path),
    ...override,
  };
}

interface Inode {
  /** What the file holds now (what a reader sees). */
  current: Buffer;
  /** What the file held at its last fsync. */
  durable: Buffer;
  /** Writes since the last fsync, in order. */
  pending: { position: number; data: Buffer }[];
}

type Entry = { kind: 'file'; inode: number } | { kind: 'dir' };

type DirOp =
  | { kind: 'link'; name: string; entry: Entry }
  | { kind: 'unlink'; name: string }
  | { kind: 'rename'; from: string; to: string; entry: Entry };

interface Dir {
  /** The entries as of the directory's last fsync. */
  durable: Map<string, Entry>;
  /** Creates, renames and unlinks since then, in order. */
  pending: DirOp[];
}

const SECTOR = 512;

/** entriesAfter applies directory operations, in order, to a copy of `entries`. */
function entriesAfter(entries: Map<string, Entry>, ops: DirOp[]): Map<string, Entry> {
  const out = new Map(entries);
  for (const op of ops) {
    if (op.kind === 'link') out.set(op.name, op.entry);
    else if (op.kind === 'unlink') out.delete(op.name);
    else {
      out.delete(op.from);
      out.set(op.to, op.entry);
    }
  }
  return out;
}

/** survivingContent draws what a file holds after the crash: its durable bytes and some of its writes. */
function survivingContent(inode: Inode, rng: Rng, stats: CrashStats): Buffer {
  let content: Buffer = Buffer.from(inode.durable);
  for (const w of inode.pending) {
    if (rng.chance(0.4)) {
      stats.writesDropped++;
      continue;
    }
    stats.writesKept++;
    let data = w.data;
    if (data.length > 0 && rng.chance(0.25)) {
      stats.writesTorn++;
      const end = w.position + data.length;
      const sectors: number[] = [];
      for (let b = (Math.floor(w.position / SECTOR) + 1) * SECTOR; b < end; b += SECTOR) sectors.push(b);
      // 1 in 5 is cut at any byte even across a boundary: not every device writes a sector atomically.
      const cut = sectors.length > 0 && rng.chance(0.8) ? rng.pick(sectors) : rng.int(w.position, end - 1);
      data = data.subarray(0, cut - w.position);
    } else if (rng.chance(0.05)) {
      data = Buffer.alloc(data.length);
    }
    content = place(content, w.position, data);
  }
  return content;
}

/** place writes `data` into `content` at `position`, growing it (with zeros) as a write would. */
function place(content: Buffer, position: number, data: Buffer): Buffer {
  const end = position + data.length;
  const out = end > content.length ? Buffer.concat([content, Buffer.alloc(end - content.length)]) : content;
  data.copy(out, position);
  return out;
}
