import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ANY_TIER, openTier, RepoKey, Repository } from '../backup/index.ts';
import { formatMoment, HindsightError, parseMoment } from '../core/index.ts';
import { printJson } from './args.ts';
import { formatBytes } from './status.ts';

/**
 * restoreOffline is `backup restore --from URL --key-file F`: the restore after the whole site is
 * lost. No agent, no catalog, no cluster: only the tier and the key. It picks the backup of the
 * volume with `id`, or the newest taken as of `at`, or the newest of all.
 */
export async function restoreOffline(options: {
  from: string;
  keyFile: string;
  /** S3 credentials file or SSH identity for the tier, as `tier add` takes them. */
  credentials?: string;
  identity?: string;
  volume: string;
  into: string;
  path?: string;
  id?: string;
  at?: string;
  json: boolean;
}): Promise<number> {
  let keyText: string;
  try {
    keyText = readFileSync(options.keyFile, 'utf8');
  } catch (err) {
    throw new HindsightError(
      'E_BACKUP_KEY_FILE',
      `cannot read the key file ${options.keyFile}: ${(err as NodeJS.ErrnoException).code}`,
    );
  }
  const key = RepoKey.fromKeyFile(keyText);
  // A tier read from elsewhere is taken as it is, whatever id its marker gives it.
  const repo = await Repository.open(
    await openTier(options.from, ANY_TIER, false, {
      credentials: options.credentials,
      identity: options.identity,
    }),
    key,
  );
  const snapshots = (await repo.snapshots()).filter((s) => s.volume === options.volume);
  const at = options.at === undefined ? undefined : parseMoment(options.at, Date.now());
  const chosen =
    options.id !== undefined
      ? snapshots.find((s) => s.id === options.id)
      : snapshots.filter((s) => at === undefined || s.at <= at).at(-1);
  if (!chosen) {
    const volumes = [...new Set((await repo.snapshots()).map((s) => s.volume))];
    throw new HindsightError('E_BACKUP_UNKNOWN', `no such backup of ${options.volume} in ${options.from}`, {
      hint:
        volumes.length > 0
          ? `the repository holds backups of: ${volumes.join(', ')}`
          : 'the repository holds no backup',
    });
  }
  const into = resolve(options.into);
  const done = await repo.restore(chosen.id, into, { path: options.path });
  if (options.json) printJson({ id: chosen.id, at: chosen.at, volume: chosen.volume, ...done });
  else {
    process.stdout.write(
      `restored backup ${chosen.id} of ${chosen.volume} as of ${formatMoment(chosen.at)}: ${done.files} files, ${formatBytes(done.bytes)} into ${into}\n`,
    );
  }
  return 0;
}
