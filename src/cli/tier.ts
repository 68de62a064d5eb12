import { resolve } from 'node:path';
import { formatMoment, HindsightError } from '../core/index.ts';
import { clientFor, parseCommand, printJson, stateDirOf } from './args.ts';
import { formatBytes } from './status.ts';

const USAGE = `hindsight tier add NAME URL [--identity FILE] [--credentials FILE] [--adopt] [--state DIR] [--json]
hindsight tier list [--state DIR] [--json]

URL: file:///mnt/backup (a local disk or a mounted share; it must exist and be empty),
     sftp://USER@HOST:PORT/PATH --identity KEYFILE (the server's host key is pinned at add),
     's3://BUCKET/PREFIX?endpoint=https://HOST&region=REGION' --credentials FILE (AWS_ACCESS_KEY_ID=…, AWS_SECRET_ACCESS_KEY=…).
Files are read by the agent, on its node; the secrets never go into the catalog.
A tier belongs to the node that writes backups to it: add it on the mirror.`;

/** tier adds and lists the places this node writes backups to (docs/commands.md, "Backups"). */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(
    argv,
    { adopt: { type: 'boolean' }, identity: { type: 'string' }, credentials: { type: 'string' } },
    USAGE,
    true,
  );
  if (values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const [sub, name, url] = positionals;
  const client = clientFor(stateDirOf(values));
  if (sub === 'add' && name && url && positionals.length === 3) {
    const abs = (p: string | undefined) => (p === undefined ? undefined : resolve(p));
    const { tier } = await client.addTier(name, url, {
      adopt: values.adopt === true,
      identity: abs(values.identity),
      credentials: abs(values.credentials),
    });
    if (values.json) printJson(tier);
    else {
      const pinned = tier.hostKey ? `; the server's host key ${tier.hostKey} is pinned` : '';
      process.stdout.write(`tier ${tier.name} added: ${tier.url} (position ${tier.position})${pinned}\n`);
    }
    return 0;
  }
  if (sub === 'list' && positionals.length === 1) {
    const { tiers } = await client.tiers();
    if (values.json) {
      printJson(tiers);
      return 0;
    }
    if (tiers.length === 0) process.stdout.write('no tiers yet: add one with hindsight tier add NAME URL\n');
    for (const t of tiers) {
      const success =
        t.lastSuccessAt === null ? 'never written' : `last success ${formatMoment(t.lastSuccessAt)}`;
      const error =
        t.lastError === null ? '' : `\n    last error ${formatMoment(t.lastErrorAt ?? 0)}: ${t.lastError}`;
      process.stdout.write(
        `${t.position}. ${t.name}  ${t.state.toUpperCase()}  ${t.url}  revision ${t.revision}, ${formatBytes(t.bytes)}, ${success}${error}\n`,
      );
    }
    return 0;
  }
  throw new HindsightError('E_USAGE', 'wrong arguments for tier', { hint: `usage: ${USAGE}` });
}
