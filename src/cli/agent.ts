import { HindsightError } from '../core/index.ts';
import { loadConfig, runAgent, statePaths } from '../daemon/index.ts';
import { parseCommand, stateDirOf } from './args.ts';

const USAGE: Record<string, string> = {
  agent: 'hindsight agent [--state DIR]',
  witness: 'hindsight witness [--state DIR] [--listen HOST:PORT]',
};

/**
 * agent runs the node's daemon in the foreground until SIGTERM or SIGINT. `witness` runs the
 * same daemon on a node that holds no data: joined like any node, it answers the leases and
 * votes of volumes that name it (`volume set --witness NODE`). `--listen` only confirms the
 * address it joined with.
 */
export async function run(argv: string[], command = 'agent'): Promise<number> {
  const usage = USAGE[command] ?? USAGE.agent;
  const { values } = parseCommand(argv, command === 'witness' ? { listen: { type: 'string' } } : {}, usage);
  if (values.help) {
    process.stdout.write(`usage: ${usage}\n`);
    return 0;
  }
  const stateDir = stateDirOf(values);
  if (typeof values.listen === 'string') {
    const config = await loadConfig(statePaths(stateDir).config);
    if (config.listen !== values.listen) {
      throw new HindsightError('E_USAGE', `this node listens on ${config.listen}, not ${values.listen}`, {
        hint: 'the address is chosen at join (--listen); join again with the address you want',
      });
    }
  }
  await runAgent(stateDir);
  return 0;
}
