import { clientFor, parseCommand, printJson, stateDirOf } from './args.ts';

const USAGE = 'hindsight invite [--state DIR] [--json]';

/** invite prints a one-time token that lets another machine join this cluster. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, {}, USAGE);
  if (values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const res = await clientFor(stateDirOf(values)).invite();
  if (values.json) printJson(res);
  else process.stdout.write(`${res.token}\n`);
  return 0;
}
