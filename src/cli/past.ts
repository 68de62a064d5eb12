import { resolve } from 'node:path';
import { formatMoment, HindsightError } from '../core/index.ts';
import { clientFor, parseCommand, printJson, stateDirOf } from './args.ts';
import { clientOn } from './on-node.ts';
import { formatBytes } from './status.ts';

const USAGE: Record<string, string> = {
  timeline:
    'hindsight timeline VOLUME [--since T] [--until T] [--path GLOB] [--on NODE] [--state DIR] [--json]',
  ls: 'hindsight ls VOLUME --at T [PATH] [--on NODE] [--state DIR] [--json]',
  cat: 'hindsight cat VOLUME --at T PATH [--on NODE] [--state DIR]',
  preview: 'hindsight preview VOLUME --at T --into DIR [--on NODE] [--state DIR] [--json]',
  restore: 'hindsight restore VOLUME PATH --at T --into DIR [--on NODE] [--state DIR] [--json]',
};

/**
 * The commands that look into the past of a mirrored volume without touching its views:
 * `timeline` (what changed when), `ls` and `cat` (browse as of T), `preview` (the whole volume
 * as of T into a new directory) and `restore` (a file or folder as of T into a directory, at
 * its path in the volume). Times are shown in local time with the zone.
 */
export async function run(argv: string[], command: string): Promise<number> {
  const usage = USAGE[command];
  const { values, positionals } = parseCommand(
    argv,
    {
      at: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      path: { type: 'string' },
      into: { type: 'string' },
      on: { type: 'string' },
    },
    usage,
    true,
  );
  if (values.help) {
    process.stdout.write(`usage: ${usage}\n`);
    return 0;
  }
  const [volume, path] = positionals;
  const needsPath = command === 'cat' || command === 'restore';
  const maxArgs = command === 'ls' || needsPath ? 2 : 1;
  if (!volume || positionals.length > maxArgs || (needsPath && !path)) {
    throw new HindsightError('E_USAGE', `wrong arguments for ${command}`, { hint: `usage: ${usage}` });
  }
  if (command !== 'timeline' && !values.at)
    throw new HindsightError('E_USAGE', `${command} needs --at T`, { hint: `usage: ${usage}` });
  if ((command === 'preview' || command === 'restore') && !values.into) {
    throw new HindsightError('E_USAGE', `${command} needs --into DIR`, { hint: `usage: ${usage}` });
  }
  const client = await clientOn(clientFor(stateDirOf(values)), values.on);

  if (command === 'timeline') {
    const answer = await client.timeline(volume, {
      since: values.since,
      until: values.until,
      path: values.path,
    });
    if (values.json) {
      printJson(answer);
      return 0;
    }
    for (const c of answer.changes) {
      process.stdout.write(`${formatMoment(c.at)}  seq ${c.seq}  ${c.kind.padEnd(7)} ${c.path}\n`);
    }
    if (answer.truncated)
      process.stdout.write(
        `... ${answer.total - answer.changes.length} more (narrow with --since/--until/--path)\n`,
      );
    process.stdout.write(`\nchanges per minute (${answer.total} in all):\n`);
    const peak = Math.max(1, ...answer.perMinute.map((m) => m.count));
    for (const m of answer.perMinute) {
      const bar = '#'.repeat(Math.max(1, Math.round((m.count / peak) * 40)));
      process.stdout.write(`${formatMoment(m.minute)}  ${String(m.count).padStart(6)}  ${bar}\n`);
    }
    return 0;
  }
  if (command === 'ls') {
    const answer = await client.ls(volume, values.at!, path);
    if (values.json) {
      printJson(answer);
      return 0;
    }
    for (const e of answer.entries) {
      const name =
        e.kind === 'dir' ? `${e.name}/` : e.kind === 'symlink' ? `${e.name} -> ${e.target}` : e.name;
      const size = e.kind === 'file' ? formatBytes(e.size) : '-';
      process.stdout.write(
        `${e.mode.toString(8).padStart(4, '0')}  ${size.padStart(10)}  ${formatMoment(e.changedAt)}  ${name}\n`,
      );
    }
    return 0;
  }
  if (command === 'cat') {
    await client.cat(volume, values.at!, path, process.stdout);
    return 0;
  }
  // The agent runs elsewhere: a relative DIR means relative to where the command runs
  // (with --on, DIR is on that node and must be absolute; its agent refuses anything else).
  const into = values.on ? values.into! : resolve(values.into!);
  const answer =
    command === 'preview'
      ? await client.preview(volume, values.at!, into)
      : await client.restore(volume, path, values.at!, into);
  if (values.json) printJson(answer);
  else
    process.stdout.write(
      `${answer.written} entries, ${formatBytes(answer.bytes)} as of seq ${answer.seq} written to ${answer.into}\n`,
    );
  return 0;
}
