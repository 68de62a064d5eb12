import { clientFor, parseCommand, printJson, stateDirOf } from './args.ts';
import { formatBytes } from './status.ts';

const USAGE = 'hindsight gc [--state DIR] [--json]';

/** gc prunes history beyond each volume's window and removes chunks nothing references, now. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, {}, USAGE);
  if (values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const answer = await clientFor(stateDirOf(values)).gc();
  if (values.json) printJson(answer);
  else if (answer.store === null)
    process.stdout.write(
      `${answer.versions} versions pruned; no chunk removed while a volume is being seeded\n`,
    );
  else
    process.stdout.write(
      `${answer.versions} versions pruned, ${answer.store.chunksDropped} chunks (${formatBytes(answer.store.bytesDropped)}) dropped, ` +
        `${answer.store.packsDeleted} packs deleted, ${answer.store.packsRewritten} rewritten\n`,
    );
  return 0;
}
