import fs from 'node:fs';
import { promisify } from 'node:util';

/**
 * FileOps is the seam between our durable storage code (the pack store, writeFileDurable)
 * and the file system: the calls whose order and completion decide what survives a power
 * cut. Reads are not part of it; they go to node:fs directly.
 *
 * The contract is node:fs's, call for call: descriptors are real descriptors, a short write
 * returns what it wrote, errors are node's errors. An implementation may fail any call (a
 * test crashes the "machine" this way), but must never report a write or an fsync done that
 * it did not do. `fsync` of a directory descriptor makes the directory's entries durable.
 *
 * NODE_FILE_OPS is node:fs itself and the only implementation in src/: the daemon never
 * chooses another. Tests pass a crash-recording one (test/harness/crash-fs.ts) or a failing
 * one (test/harness/faulty-ops.ts) to a single store, view or call, never through configuration.
 */
export interface FileOps {
  /** openSync opens `path` with numeric `flags` (O_CREAT, O_EXCL, ...) and returns the descriptor. */
  openSync(path: string, flags: number, mode?: number): number;
  /** open opens `path` with numeric `flags`, as openSync, and resolves to the descriptor. */
  open(path: string, flags: number, mode?: number): Promise<number>;
  /** closeSync closes a descriptor; it makes nothing durable. */
  closeSync(fd: number): void;
  /** close closes a descriptor; it makes nothing durable. */
  close(fd: number): Promise<void>;
  /** writeSync writes at `position` (pwrite) and returns the bytes written. */
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  /** write writes at `position` (pwrite) and returns the bytes written. */
  write(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** fsync makes a file's data and metadata durable, or a directory's entries for a directory descriptor. */
  fsync(fd: number): Promise<void>;
  /** fdatasync makes a file's data and size durable, not its other metadata nor its name. */
  fdatasync(fd: number): Promise<void>;
  /** mkdirSync is node's: with `recursive`, it returns the first directory it created, if any. */
  mkdirSync(path: string, options: { recursive: boolean; mode: number }): string | undefined;
  /** rename moves `from` to `to`, replacing `to` atomically; durable only once the directory is fsynced. */
  rename(from: string, to: string): Promise<void>;
  /** unlinkSync removes a file; a missing one is not an error (rm -f). */
  unlinkSync(path: string): void;
  /** unlink removes a file; a missing one is not an error (rm -f). */
  unlink(path: string): Promise<void>;
}

/**
 * TreeOps is FileOps with the further calls that writing a directory tree makes: a view's
 * apply, a preview, a restore. Its writes (content, metadata through the descriptor, new
 * directories and links, removals) go through here, so a test can fail any one of them, the
 * way restic's BackendTestHook fails a call of a real backend.
 *
 * The contract is node:fs's, as for FileOps. `rmTree` removes a file, link or directory tree
 * without following links (rm -rf, a missing path is not an error).
 */
export interface TreeOps extends FileOps {
  /** writev writes `buffers` at `position` (pwritev) and returns the bytes written. */
  writev(fd: number, buffers: Uint8Array[], position: number): Promise<number>;
  /** fchmod sets a file's mode through its descriptor. */
  fchmod(fd: number, mode: number): Promise<void>;
  /** futimes sets a file's times (seconds) through its descriptor. */
  futimes(fd: number, atimeS: number, mtimeS: number): Promise<void>;
  /** mkdir makes one directory (not its parents); EEXIST if anything is there. */
  mkdir(path: string, mode: number): Promise<void>;
  /** chmod sets the mode of a path (which must not be a link: lstat it first). */
  chmod(path: string, mode: number): Promise<void>;
  /** utimes sets the times of a path (which must not be a link: lstat it first). */
  utimes(path: string, atimeS: number, mtimeS: number): Promise<void>;
  /** symlink makes a symbolic link at `path` pointing at `target`, verbatim. */
  symlink(target: string, path: string): Promise<void>;
  /** lutimes sets the times of a link itself. */
  lutimes(path: string, atimeS: number, mtimeS: number): Promise<void>;
  /** rmTree removes what is at `path`, recursively, never following a link; missing is fine. */
  rmTree(path: string): Promise<void>;
}

const openAsync = promisify(fs.open);
const closeAsync = promisify(fs.close);
const writeAsync = promisify(fs.write);
const fsyncAsync = promisify(fs.fsync);
const fdatasyncAsync = promisify(fs.fdatasync);
const writevAsync = promisify(fs.writev);
const fchmodAsync = promisify(fs.fchmod);
const futimesAsync = promisify(fs.futimes);

/** NODE_FILE_OPS is FileOps (and TreeOps) on node:fs, with nothing in between. */
export const NODE_FILE_OPS: TreeOps = {
  openSync: (path, flags, mode) => fs.openSync(path, flags, mode),
  open: (path, flags, mode) => openAsync(path, flags, mode),
  closeSync: (fd) => fs.closeSync(fd),
  close: (fd) => closeAsync(fd),
  writeSync: (fd, buffer, offset, length, position) => fs.writeSync(fd, buffer, offset, length, position),
  write: async (fd, buffer, offset, length, position) =>
    (await writeAsync(fd, buffer, offset, length, position)).bytesWritten,
  fsync: (fd) => fsyncAsync(fd),
  fdatasync: (fd) => fdatasyncAsync(fd),
  mkdirSync: (path, options) => fs.mkdirSync(path, options),
  rename: (from, to) => fs.promises.rename(from, to),
  unlinkSync: (path) => fs.rmSync(path, { force: true }),
  unlink: (path) => fs.promises.rm(path, { force: true }),
  writev: async (fd, buffers, position) => (await writevAsync(fd, buffers, position)).bytesWritten,
  fchmod: (fd, mode) => fchmodAsync(fd, mode),
  futimes: (fd, atimeS, mtimeS) => futimesAsync(fd, atimeS, mtimeS),
  mkdir: async (path, mode) => {
    await fs.promises.mkdir(path, { mode });
  },
  chmod: (path, mode) => fs.promises.chmod(path, mode),
  utimes: (path, atimeS, mtimeS) => fs.promises.utimes(path, atimeS, mtimeS),
  symlink: (target, path) => fs.promises.symlink(target, path),
  lutimes: (path, atimeS, mtimeS) => fs.promises.lutimes(path, atimeS, mtimeS),
  rmTree: (path) => fs.promises.rm(path, { recursive: true, force: true }),
};
