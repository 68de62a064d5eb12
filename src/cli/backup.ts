import { resolve } from 'node:path';
import { formatMoment, HindsightError } from '../core/index.ts';
import { clientFor, parseCommand, printJson, stateDirOf } from './args.ts';
import { formatBytes } from './status.ts';

const USAGE = `hindsight backup run VOLUME [--at T] [--state DIR] [--json]
hindsight backup list [VOLUME] [--state DIR] [--json]
hindsight backup restore VOLUME [PATH] (--id ID | --at T) --into DIR [--tier NAME] [--state DIR] [--json]
hindsight backup restore --from URL --key-file FILE [--credentials FILE | --identity FILE] --volume VOLUME [PATH] [--id ID | --at T] --into DIR [--json]
hindsight backup verify [--read-data PERCENT] [--tier NAME] [--state DIR] [--json]
hindsight backup prune [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-yearly N]
       [--volume VOLUME] [--credentials FILE | --identity FILE] [--json]   (the access that may delete, for this run)
hindsight backup drill VOLUME [--tier NAME] [--state DIR] [--json]
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
      credentials: { type: 'string' },
      identity: { type: 'string' },
      'read-data': { type: 'string' },
      'keep-last': { type: 'string' },
      'keep-hourly': { type: 'string' },
      'keep-daily': { type: 'string' },
      'keep-weekly': { type: 'string' },
      'keep-monthly': { type: 'string' },
      'keep-yearly': { type: 'string' },
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
      credentials: values.credentials,
      identity: values.identity,
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
  if (sub === 'verify' && rest.length === 0) {
    const share = percentOf(values['read-data'] ?? '0%');
    const { tiers } = await client.verifyBackups(share, values.tier);
    if (values.json) printJson(tiers);
    else {
      for (const t of tiers) {
        if (t.report === null) process.stdout.write(`${t.tier}: NOT VERIFIED: ${t.error}\n`);
        else {
          const r = t.report;
          const state = r.problems.length === 0 ? 'ok' : `${r.problems.length} PROBLEMS`;
          process.stdout.write(
            `${t.tier}: ${state}: ${r.snapshots} backups, ${r.chunks} chunks in ${r.packs} packs, ${r.packsRead} packs read whole\n`,
          );
          for (const p of r.problems) process.stdout.write(`  ${p}\n`);
        }
      }
    }
    const isOk = tiers.every((t) => t.report !== null && t.report.problems.length === 0);
    return isOk ? 0 : 1;
  }
  if (sub === 'prune' && rest.length === 0) {
    const policy = {
      last: countOf(values['keep-last'], 'keep-last'),
      hourly: countOf(values['keep-hourly'], 'keep-hourly'),
      daily: countOf(values['keep-daily'], 'keep-daily'),
      weekly: countOf(values['keep-weekly'], 'keep-weekly'),
      monthly: countOf(values['keep-monthly'], 'keep-monthly'),
      yearly: countOf(values['keep-yearly'], 'keep-yearly'),
    };
    const abs = (p: string | undefined) => (p === undefined ? undefined : resolve(p));
    const answer = await client.prune({
      ...policy,
      volume: values.volume,
      credentials: abs(values.credentials),
      identity: abs(values.identity),
    });
    if (values.json) printJson(answer);
    else {
      process.stdout.write(
        `pruned ${answer.snapshots} backups (${answer.kept} kept), ${answer.manifests} manifests and ${answer.packs} packs (${formatBytes(answer.bytes)}) on ${answer.tiers.filter((t) => !answer.refused.includes(t)).join(', ') || 'no tier'}\n`,
      );
    }
    for (const t of answer.refused) {
      process.stderr.write(
        `tier ${t} refused to delete (an append-only account): nothing pruned there; run prune with --credentials or --identity that may delete\n`,
      );
    }
    return answer.refused.length === 0 ? 0 : 1;
  }
  if (sub === 'drill' && rest.length === 1) {
    const answer = await client.drill(rest[0], values.tier);
    if (values.json) printJson(answer);
    else {
      const head = answer.isOk
        ? 'restore drill passed'
        : `restore drill FAILED (${answer.problems.length} problems)`;
      process.stdout.write(
        `${head}: backup ${answer.id} from ${answer.tier}, ${answer.files} files, ${formatBytes(answer.bytes)} in ${(answer.ms / 1000).toFixed(1)} s (${formatBytes(answer.bytesPerSecond)}/s)\n`,
      );
      for (const p of answer.problems) process.stdout.write(`  ${p}\n`);
    }
    return answer.isOk ? 0 : 1;
  }
  if (sub === 'key' && rest.length === 1 && rest[0] === 'export') {
    const { keyFile } = await client.backupKey();
    process.stdout.write(keyFile);
    process.stderr.write('keep this key apart from the backups: without it, no backup can be read\n');
    return 0;
  }
  throw usage();
}

/** percentOf reads "10%" (or "0.1") as a share from 0 to 1. */
function percentOf(text: string): number {
  const share = text.endsWith('%') ? Number(text.slice(0, -1)) / 100 : Number(text);
  if (!Number.isFinite(share) || share < 0 || share > 1) {
    throw new HindsightError('E_USAGE', `--read-data ${text} is not a share of the data`, {
      hint: 'e.g. --read-data 10%',
    });
  }
  return share;
}

/** countOf reads a --keep-* count. */
function countOf(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new HindsightError('E_USAGE', `--${option} ${text} is not a number of backups`, {
      hint: 'e.g. --keep-daily 7',
    });
  }
  return n;
}
