import { runAgent } from '../daemon/index.ts';
import { parseCommand, stateDirOf } from './args.ts';

const USAGE = 'hindsight agent [--state DIR]';

/** agent runs the node's daemon in the foreground until SIGTERM or SIGINT. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, {}, USAGE);
  if (values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  await runAgent(stateDirOf(values));
  return 0;
}
