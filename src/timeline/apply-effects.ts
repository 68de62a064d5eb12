import { constants } from 'node:fs';
import { chunkHashAt, HASH_BYTES, HindsightError } from '../core/index.ts';
import type { ChunkStore } from '../store/index.ts';
import { stagingPathFor, type TreeOps } from '../sys/index.ts';
import { lstatOrNull, type ResolvedPath, rejectVersion } from './path-guard.ts';
import type { VersionRow } from './versions.ts';

/** EffectContext is what one effect needs besides the version: chunks, and where to note dirty directories. */
export interface EffectContext {
  store: ChunkStore;
  /** Every write, metadata change, creation and removal goes through here (NODE_FILE_OPS in the daemon). */
  ops: TreeOps;
  /** Directories whose entries changed in this batch; fsynced once before the position moves. */
  dirty: Set<string>;
}

const STAGING_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
// O_NONBLOCK: opening a FIFO someone left in the view must not hang the applier.
const META_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * applyPut writes the version's content to a staging file beside the path and renames it into
 * place. Order: exclusive create (never through a link) → chunks in order → mode and mtime via
 * the descriptor → fsync → close → rename. The metadata is set before the fsync so the one
 * fsync covers it. The rename replaces a file or a symlink at the path (never following it); a
 * directory there is removed first. The parent is marked dirty; its fsync makes the rename durable.
 *
 * `inPlace` (for a tree written from empty, like a preview) creates the file at its path with
 * the same exclusive flags instead, and skips the rename: nothing is there to be replaced.
 * `noSync` skips the fsync, for a caller that makes the whole tree durable at once (syncfs).
 */
export async function applyPut(
  ctx: EffectContext,
  v: VersionRow,
  at: ResolvedPath,
  { inPlace = false, noSync = false } = {},
): Promise<void> {
  const { ops } = ctx;
  const staging = inPlace ? at.full : stagingPathFor(at.full);
  const fd = await ops.open(staging, STAGING_FLAGS, 0o600);
  let isOpen = true;
  try {
    const chunks = v.chunks ?? Buffer.alloc(0);
    let written = 0;
    // Chunks are gathered into one writev of up to WRITE_GATHER_BYTES: a file of any size costs
    // at most that much memory, and a large file is not written in thousands of small calls.
    let gathered: Buffer[] = [];
    let gatheredBytes = 0;
    const flush = async () => {
      await writeAll(ops, fd, gathered, gatheredBytes, written);
      written += gatheredBytes;
      gathered = [];
      gatheredBytes = 0;
    };
    for (let i = 0; i < chunks.length / HASH_BYTES; i++) {
      const raw = ctx.store.readRaw(chunkHashAt(chunks, i));
      gathered.push(raw);
      gatheredBytes += raw.length;
      if (gatheredBytes >= WRITE_GATHER_BYTES) await flush();
    }
    if (gatheredBytes > 0) await flush();
    if (written !== v.size) rejectVersion(`content is ${written} bytes but the version says ${v.size}`);
    await ops.fchmod(fd, v.mode);
    await ops.futimes(fd, v.mtimeMs / 1000, v.mtimeMs / 1000);
    if (!noSync) await syncOrFail(ops, fd, staging);
    isOpen = false;
    await ops.close(fd);
    if (!inPlace) {
      await removeDirectoryAt(ops, at.full);
      await ops.rename(staging, at.full);
    }
  } catch (err) {
    if (isOpen) await ops.close(fd).catch(() => {});
    await ops.unlink(staging).catch(() => {});
    throw err;
  }
  ctx.dirty.add(at.parent);
}

/** WRITE_GATHER_BYTES is how much chunk data apply collects before one write call. */
const WRITE_GATHER_BYTES = 4 * 1024 * 1024;

/** writeAll writes `buffers` (`total` bytes) at `position`, finishing any short write. */
async function writeAll(ops: TreeOps, fd: number, buffers: Buffer[], total: number, position: number) {
  const bytesWritten = await ops.writev(fd, buffers, position);
  if (bytesWritten === total) return;
  const rest = Buffer.concat(buffers).subarray(bytesWritten);
  for (let off = 0; off < rest.length; ) {
    off += await ops.write(fd, rest, off, rest.length - off, position + bytesWritten + off);
  }
}

/**
 * applyMkdir makes the path a directory with the version's mode. A non-directory there
 * (file or symlink) is removed first; an existing directory keeps its content and gets the mode.
 */
export async function applyMkdir(ctx: EffectContext, v: VersionRow, at: ResolvedPath): Promise<void> {
  const st = await lstatOrNull(at.full);
  if (st?.isDirectory()) {
    await setMetaNoFollow(ctx.ops, at.full, v, false);
    return;
  }
  if (st) await ctx.ops.unlink(at.full);
  await ctx.ops.mkdir(at.full, v.mode);
  // mkdir's mode is filtered by the umask; the version's mode is the truth.
  await ctx.ops.chmod(at.full, v.mode);
  ctx.dirty.add(at.parent);
}

/**
 * applySymlink creates the link (target verbatim, never resolved) at a staging name and renames
 * it over the path, so an existing file or link is replaced atomically and never followed.
 */
export async function applySymlink(ctx: EffectContext, v: VersionRow, at: ResolvedPath): Promise<void> {
  const { ops } = ctx;
  const staging = stagingPathFor(at.full);
  try {
    await ops.symlink(v.target ?? rejectVersion('symlink without a target'), staging);
    await ops.lutimes(staging, v.mtimeMs / 1000, v.mtimeMs / 1000);
    await removeDirectoryAt(ops, at.full);
    await ops.rename(staging, at.full);
  } catch (err) {
    await ops.unlink(staging).catch(() => {});
    throw err;
  }
  ctx.dirty.add(at.parent);
}

/** applyDelete removes the path, recursively if it is a directory; a missing path is already deleted. */
export async function applyDelete(ctx: EffectContext, at: ResolvedPath): Promise<void> {
  const st = await lstatOrNull(at.full);
  if (!st) return;
  // rm never follows symlinks inside the tree: a link is unlinked, its target untouched.
  if (st.isDirectory()) await ctx.ops.rmTree(at.full);
  else await ctx.ops.unlink(at.full);
  ctx.dirty.add(at.parent);
}

/** applyMeta sets mode and mtime of an existing path without following a symlink. */
export async function applyMeta(ctx: EffectContext, v: VersionRow, at: ResolvedPath): Promise<void> {
  await setMetaNoFollow(ctx.ops, at.full, v, true);
}

async function setMetaNoFollow(ops: TreeOps, full: string, v: VersionRow, setMtime: boolean): Promise<void> {
  const st = await lstatOrNull(full);
  if (!st) rejectVersion('meta change for a path that does not exist in the view');
  if (st.isSymbolicLink()) {
    // Linux has no lchmod: a link's own mode is meaningless; only its mtime is kept.
    if (setMtime) await ops.lutimes(full, v.mtimeMs / 1000, v.mtimeMs / 1000);
    return;
  }
  let fd: number;
  try {
    fd = await ops.open(full, META_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
    // Without root a mode like 0o200 cannot be opened for reading; lstat showed no link here.
    await ops.chmod(full, v.mode);
    if (setMtime) await ops.utimes(full, v.mtimeMs / 1000, v.mtimeMs / 1000);
    return;
  }
  try {
    await ops.fchmod(fd, v.mode);
    if (setMtime) await ops.futimes(fd, v.mtimeMs / 1000, v.mtimeMs / 1000);
    await syncOrFail(ops, fd, full);
  } finally {
    await ops.close(fd);
  }
}

async function removeDirectoryAt(ops: TreeOps, full: string): Promise<void> {
  const st = await lstatOrNull(full);
  if (st?.isDirectory()) await ops.rmTree(full);
}

/**
 * syncOrFail fsyncs a handle and turns a failure into E_APPLY_FSYNC. After a failed fsync the
 * kernel may have dropped the dirty pages and a retry can "succeed" without the data: such a
 * failure is never retried, it stops the view.
 */
export async function syncOrFail(ops: TreeOps, fd: number, what: string): Promise<void> {
  try {
    await ops.fsync(fd);
  } catch (err) {
    throw new HindsightError('E_APPLY_FSYNC', `fsync of ${what} failed`, {
      hint: 'the disk reported a write error; check it, then restart the agent to re-apply from the last durable position',
      cause: err,
    });
  }
}

/** syncDirectoryIfPresent fsyncs a directory's entries; a directory removed since is skipped. */
export async function syncDirectoryIfPresent(ops: TreeOps, dir: string): Promise<void> {
  let fd: number;
  try {
    fd = await ops.open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    // Removed or replaced later in the batch: its parent's fsync covers that change.
    if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes((err as NodeJS.ErrnoException).code ?? '')) return;
    throw err;
  }
  try {
    await syncOrFail(ops, fd, dir);
  } finally {
    await ops.close(fd);
  }
}
