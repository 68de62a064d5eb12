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
 * chooses another. Tests pass a crash-recording one (test/harness/crash-fs.ts) to a single
 * store or call, never through configuration.
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

const openAsync = promisify(fs.open);
const closeAsync = promisify(fs.close);
const writeAsync = promisify(fs.write);
const fsyncAsync = promisify(fs.fsync);
const fdatasyncAsync = promisify(fs.fdatasync);

/** NODE_FILE_OPS is FileOps on node:fs, with nothing in between. */
export const NODE_FILE_OPS: FileOps = {
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
};
