import { formatDuration, formatMoment, HindsightError } from '../core/index.ts';
import { clientFor, parseCommand, printJson, stateDirOf } from './args.ts';
import { clientOn } from './on-node.ts';

const USAGE: Record<string, string> = {
  delay: 'hindsight delay VOLUME DURATION [--view NAME] [--on NODE] [--state DIR] [--json]',
  hold: 'hindsight hold VOLUME [--view NAME] [--on NODE] [--state DIR] [--json]',
  resume: 'hindsight resume VOLUME [--view NAME] [--on NODE] [--state DIR] [--json]',
  rewind: 'hindsight rewind VOLUME --to T [--view NAME] [--on NODE] [--state DIR] [--json]',
  discard: 'hindsight discard VOLUME --after T [--on NODE] [--state DIR] [--json]',
};

/**
 * The funnel commands, run on a mirror: `delay`, `hold`, `resume` (every view of the volume
 * unless --view names one), `rewind` (hold, then move the view to T) and `discard` (drop the
 * stored changes after T for good). T is ISO-8601 or relative ("10 minutes ago", "-10m").
 */
export async function run(argv: string[], command: string): Promise<number> {
  const usage = USAGE[command];
  const { values, positionals } = parseCommand(
    argv,
    { view: { type: 'string' }, on: { type: 'string' }, to: { type: 'string' }, after: { type: 'string' } },
    usage,
    true,
  );
  if (values.help) {
    process.stdout.write(`usage: ${usage}\n`);
    return 0;
  }
  const wanted = command === 'delay' ? 2 : 1;
  if (positionals.length !== wanted) {
    throw new HindsightError('E_USAGE', `${command} takes ${wanted === 2 ? 'VOLUME DURATION' : 'VOLUME'}`, {
      hint: `usage: ${usage}`,
    });
  }
  const client = await clientOn(clientFor(stateDirOf(values)), values.on);
  const [volume] = positionals;
  if (command === 'rewind' || command === 'discard') {
    const key = command === 'rewind' ? 'to' : 'after';
    const at = values[key];
    if (!at) throw new HindsightError('E_USAGE', `${command} needs --${key} T`, { hint: `usage: ${usage}` });
    if (command === 'discard') {
      const answer = await client.discard(volume, at);
      if (values.json) printJson(answer);
      else process.stdout.write(`${answer.discarded} changes after seq ${answer.seq} discarded\n`);
      return 0;
    }
    const answer = await client.rewind(volume, at, values.view);
    if (values.json) printJson(answer);
    else
      process.stdout.write(
        `${volume} rewound to seq ${answer.seq} (${formatMoment(answer.at ?? 0)}); held until 'hindsight resume ${volume}'\n`,
      );
    return 0;
  }
  const { views } =
    command === 'delay'
      ? await client.delay(volume, positionals[1], values.view)
      : command === 'hold'
        ? await client.hold(volume, values.view)
        : await client.resume(volume, values.view);
  if (values.json) printJson(views);
  else
    for (const v of views) {
      const held = v.held ? `held (${v.holdReason})` : 'applying';
      process.stdout.write(`${volume} view ${v.name}: delay ${formatDuration(v.delayMs)}, ${held}\n`);
    }
  return 0;
}
