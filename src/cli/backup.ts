import { resolve } from 'node:path';
import { formatMoment, HindsightError } from '../core/index.ts';
import { clientFor, parseCommand, printJson, stateDirOf } from './args.ts';
import { formatBytes } from './status.ts';

const USAGE = `hindsight backup run VOLUME [--at T] [--state DIR] [--json]
hindsight backup list [VOLUME] [--state DIR] [--json]
hindsight backup restore VOLUME [PATH] (--id ID | --at T) --into DIR [--tier NAME] [--state DIR] [--json]
hindsight backup restore --from URL --key-file FILE --volume VOLUME [PATH] [--id ID | --at T] --into DIR [--json]
hindsight backup key export [--state DIR]

Run on the mirror: a backup is the volume's timeline as of T (default: the moment its view shows).`;

/** backup takes, lists and restores backups of mirrored volumes (docs/commands.md, "Backups"). */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(
    argv,
    {
      at: { type: 'string' },
      id: { type: 'string' },
      into: { type: 'string' },
      tier: { type: 'string' },
      from: { type: 'string' },
      'key-file': { type: 'string' },
      volume: { type: 'string' },
    },
    USAGE,
    true,
  );
  if (values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const [sub, ...rest] = positionals;
  if (sub === 'restore' && values.from !== undefined) {
    // After losing everything: no agent, only the tier and the key.
    if (!values['key-file'] || !values.volume || !values.into || rest.length > 1) {
      throw new HindsightError('E_USAGE', 'backup restore --from needs --key-file, --volume and --into', {
        hint: `usage: ${USAGE}`,
      });
    }
    const { restoreOffline } = await import('./backup-offline.ts');
    return restoreOffline({
      from: values.from,
      keyFile: values['key-file'],
      volume: values.volume,
      into: values.into,
      path: rest[0],
      id: values.id,
      at: values.at,
      json: values.json === true,
    });
  }
  const client = clientFor(stateDirOf(values));
  const usage = () =>
    new HindsightError('E_USAGE', 'wrong arguments for backup', { hint: `usage: ${USAGE}` });
  if (sub === 'run' && rest.length === 1) {
    const { backup } = await client.backup(rest[0], values.at);
    if (values.json) printJson(backup);
    else {
      process.stdout.write(
        `backup ${backup.id} of ${backup.volume} as of ${formatMoment(backup.at)} (seq ${backup.seq}): ${backup.files} files, ${formatBytes(backup.bytes)}, ${formatBytes(backup.newBytes)} new; on ${backup.tiers.join(', ')}\n`,
      );
    }
    return 0;
  }
  if (sub === 'list' && rest.length <= 1) {
    const { backups } = await client.backups(rest[0]);
    if (values.json) printJson(backups);
    else {
      if (backups.length === 0) process.stdout.write('no backups yet: hindsight backup run VOLUME\n');
      for (const b of backups) {
        process.stdout.write(
          `${b.id}  ${b.volume}  as of ${formatMoment(b.at)}  ${b.files} files, ${formatBytes(b.bytes)}  on ${b.tiers.join(', ')}\n`,
        );
      }
    }
    return 0;
  }
  if (sub === 'restore' && (rest.length === 1 || rest.length === 2)) {
    if (!values.into)
      throw new HindsightError('E_USAGE', 'backup restore needs --into DIR', { hint: `usage: ${USAGE}` });
    if ((values.id === undefined) === (values.at === undefined)) {
      throw new HindsightError('E_USAGE', 'backup restore needs --id ID or --at T (one of them)', {
        hint: `usage: ${USAGE}`,
      });
    }
    const answer = await client.restoreBackup(rest[0], {
      id: values.id,
      at: values.at,
      into: resolve(values.into),
      path: rest[1],
      tier: values.tier,
    });
    if (values.json) printJson(answer);
    else {
      process.stdout.write(
        `restored backup ${answer.id} from tier ${answer.tier}: ${answer.files} files, ${formatBytes(answer.bytes)} into ${resolve(values.into)}\n`,
      );
    }
    return 0;
  }
  if (sub === 'key' && rest.length === 1 && rest[0] === 'export') {
    const { keyFile } = await client.backupKey();
    process.stdout.write(keyFile);
    process.stderr.write('keep this key apart from the backups: without it, no backup can be read\n');
    return 0;
  }
  throw usage();
}
