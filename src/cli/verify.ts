import { clientFor, parseCommand, printJson, stateDirOf } from './args.ts';

const USAGE = 'hindsight verify [--state DIR] [--json]';

/** verify asks the agent to re-read and re-hash every stored chunk; exits 1 if any is bad. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, {}, USAGE);
  if (values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const { report } = await clientFor(stateDirOf(values)).verify();
  if (values.json) printJson(report);
  else
    process.stdout.write(
      `${report.chunks} chunks, ${report.bytes} bytes checked, ${report.bad.length} bad\n`,
    );
  return report.bad.length === 0 ? 0 : 1;
}
