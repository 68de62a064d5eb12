import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';

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
export async function fsyncDir(dir: string): Promise<void> {
  const fd = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

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
 * The staging file is removed if any step fails before the rename.
 */
export async function writeFileDurable(
  target: string,
  data: Uint8Array | string,
  mode = 0o600,
): Promise<void> {
  const staging = stagingPathFor(target);
  // O_EXCL: a name that already exists (a leftover or a planted link) is never written through.
  const fh = await fsp.open(
    staging,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    mode,
  );
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await fsp.rm(staging, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await fsp.rename(staging, target);
  } catch (err) {
    await fsp.rm(staging, { force: true });
    throw err;
  }
  // The rename is only durable once the directory entry is.
  await fsyncDir(dirname(target));
}
