import { resolve } from 'node:path';
import { formatMoment, HindsightError } from '../core/index.ts';
import { clientFor, parseCommand, printJson, stateDirOf } from './args.ts';
import { formatBytes } from './status.ts';

const USAGE: Record<string, string> = {
  promote: 'hindsight promote VOLUME [--at T] [--force] [--state DIR] [--json]',
  switchover: 'hindsight switchover VOLUME [--to NODE] [--state DIR] [--json]',
  divergence:
    'hindsight divergence VOLUME [--export DIR] [--origin divergence|after-promote] [--state DIR] [--json]',
};

/**
 * The role commands: `promote` (on a mirror: become the volume's primary, at T or with
 * everything received; the changes after T are quarantined) and `divergence` (what this node
 * keeps out of the volume's timeline: an old primary's changes the new one never got, or what
 * a mirror received after the moment it was promoted at; `--export DIR` writes them out).
 */
export async function run(argv: string[], command: string): Promise<number> {
  const usage = USAGE[command];
  const { values, positionals } = parseCommand(
    argv,
    {
      at: { type: 'string' },
      force: { type: 'boolean' },
      export: { type: 'string' },
      origin: { type: 'string' },
      to: { type: 'string' },
    },
    usage,
    true,
  );
  if (values.help) {
    process.stdout.write(`usage: ${usage}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new HindsightError('E_USAGE', `${command} takes VOLUME`, { hint: `usage: ${usage}` });
  }
  const client = clientFor(stateDirOf(values));
  const [volume] = positionals;
  if (command === 'promote') {
    const answer = await client.promote(volume, { at: values.at, force: values.force });
    if (values.json) printJson(answer);
    else {
      const kept = answer.quarantined > 0 ? `; ${answer.quarantined} later changes quarantined` : '';
      process.stdout.write(
        `${volume}: this node is the primary now, epoch ${answer.epoch}, from seq ${answer.seq}${kept}\n`,
      );
    }
    return 0;
  }
  if (command === 'switchover') {
    const answer = await client.switchover(volume, values.to);
    if (values.json) printJson(answer);
    else
      process.stdout.write(
        `${volume}: ${answer.primary} is the primary now (epoch ${answer.epoch}, from seq ${answer.seq}); this node becomes its mirror\n`,
      );
    return 0;
  }
  if (values.export) {
    // The agent checks the origin and says what it takes.
    const origin = values.origin as 'divergence' | 'after-promote' | undefined;
    const answer = await client.exportDivergence(volume, resolve(values.export), origin);
    if (values.json) printJson(answer);
    else {
      process.stdout.write(
        `${answer.written} entries, ${formatBytes(answer.bytes)} written to ${answer.into}\n`,
      );
      for (const p of answer.deleted) process.stdout.write(`  deleted then (not written): ${p}\n`);
    }
    return 0;
  }
  const { quarantine } = await client.divergence(volume);
  const rows = quarantine.filter((r) => values.origin === undefined || r.origin === values.origin);
  if (values.json) {
    printJson({ quarantine: rows });
    return 0;
  }
  if (rows.length === 0) {
    process.stdout.write(`nothing of ${volume} is quarantined on this node\n`);
    return 0;
  }
  for (const r of rows) {
    process.stdout.write(
      `${r.origin.padEnd(13)} epoch ${r.epoch} seq ${String(r.seq).padStart(7)}  ${r.kind.padEnd(7)} ${formatBytes(r.size).padStart(9)}  ${formatMoment(r.capturedAt)}  ${r.path}\n`,
    );
  }
  return 0;
}
