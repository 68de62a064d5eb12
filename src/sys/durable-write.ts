import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { HindsightError } from '../core/index.ts';
import { type FileOps, NODE_FILE_OPS } from './file-ops.ts';

/** STAGING_PREFIX starts the name of every staging file, so recovery and scans can recognise them. */
export const STAGING_PREFIX = '.hindsight-staging-';

/** isStagingName tells whether a directory entry is one of our staging files. */
export function isStagingName(name: string): boolean {
  return name.startsWith(STAGING_PREFIX);
}

/**
 * fsyncDir makes the entries of a directory (creates, renames, unlinks) durable.
 * Without it a rename can be lost at a power cut even though the file's data was synced.
 */
export async function fsyncDir(dir: string, ops: FileOps = NODE_FILE_OPS): Promise<void> {
  const fd = await ops.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await ops.fsync(fd);
  } finally {
    await ops.close(fd);
  }
}

/**
 * syncFileSystem makes everything written to the file system holding `dir` durable: data,
 * names and metadata that any process left in the page cache (syncfs(2), through coreutils'
 * `sync -f`, as Node has no binding for it). It is for recovery after a kill -9, when what the
 * dead process did but never fsynced cannot be told apart from what it did fsync, and for a
 * group commit of a tree written from empty (one sync instead of an fsync per file).
 */
export function syncFileSystem(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(SYNC, ['-f', dir], { timeout: 600_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      reject(
        new HindsightError(
          'E_SYNCFS',
          `cannot sync the file system of ${dir}: ${stderr.trim() || err.message}`,
          {
            cause: err,
            hint: 'check the disk (dmesg); nothing written there counts as durable until a sync succeeds',
          },
        ),
      );
    });
  });
}

/**
 * SYNCFS_REACHES_DISK are the file systems (statfs f_type) whose syncfs(2) writes back every
 * file's data and every directory entry and reports a write-back error: ext4 (also ext2/3),
 * xfs, btrfs, f2fs, zfs, overlayfs (it syncs its upper layer) and tmpfs (nothing to reach).
 * Not FUSE, whose syncfs does not reach the daemon, nor network file systems.
 */
const SYNCFS_REACHES_DISK = new Set([
  0xef53, // ext2, ext3, ext4
  0x58465342, // xfs
  0x9123683e, // btrfs
  0xf2f52010, // f2fs
  0x2fc12fc1, // zfs
  0x794c7630, // overlayfs
  0x01021994, // tmpfs
]);

/**
 * syncfsReachesDisk tells whether one syncFileSystem of `dir` makes everything written beneath
 * it durable, so that a tree written from empty can be committed as a group instead of by an
 * fsync per file. Where it cannot be told, the answer is no.
 */
export async function syncfsReachesDisk(dir: string): Promise<boolean> {
  try {
    return SYNCFS_REACHES_DISK.has((await statfs(dir)).type);
  } catch {
    return false;
  }
}

/** SYNC is coreutils' sync, by its path where the system has one, so PATH cannot swap it. */
const SYNC = ['/usr/bin/sync', '/bin/sync'].find((p) => existsSync(p)) ?? 'sync';

/** stagingPathFor returns a fresh staging name beside `target`, in the same directory (same filesystem). */
export function stagingPathFor(target: string): string {
  return join(
    dirname(target),
    `${STAGING_PREFIX}${basename(target).slice(0, 40)}-${randomBytes(6).toString('hex')}`,
  );
}

/**
 * writeFileDurable replaces `target` with `data` so that after a crash the target holds either
 * its old content or the whole new one, never a mix:
 * stage (exclusive create, never following a symlink) → write → fsync → rename → fsync the directory.
 * The staging file is removed if any step fails before the rename. `ops` is for tests (FileOps).
 */
export async function writeFileDurable(
  target: string,
  data: Uint8Array | string,
  mode = 0o600,
  ops: FileOps = NODE_FILE_OPS,
): Promise<void> {
  const staging = stagingPathFor(target);
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  // O_EXCL: a name that already exists (a leftover or a planted link) is never written through.
  const fd = await ops.open(
    staging,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    mode,
  );
  try {
    for (let done = 0; done < bytes.length; )
      done += await ops.write(fd, bytes, done, bytes.length - done, done);
    await ops.fsync(fd);
  } catch (err) {
    // The cleanup is best effort: its own failure must not hide why the write failed.
    await ops.close(fd).catch(() => {});
    await ops.unlink(staging).catch(() => {});
    throw err;
  }
  await ops.close(fd);
  try {
    await ops.rename(staging, target);
  } catch (err) {
    await ops.unlink(staging).catch(() => {});
    throw err;
  }
  // The rename is only durable once the directory entry is.
  await fsyncDir(dirname(target), ops);
}
