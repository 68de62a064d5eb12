import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type ApiClient, defaultStateDir, localClient } from '../api/index.ts';
import { HindsightError } from '../core/index.ts';

/** COMMON_OPTIONS are accepted by every command. */
export const COMMON_OPTIONS = {
  state: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** parseCommand parses a command's arguments, turning a usage mistake into a clear error. */
export function parseCommand<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  usage: string,
  allowPositionals = false,
) {
  try {
    return parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    throw new HindsightError('E_USAGE', (err as Error).message, { hint: `usage: ${usage}` });
  }
}

/** stateDirOf returns the --state value or the default state directory. */
export function stateDirOf(values: { state?: string | boolean }): string {
  return typeof values.state === 'string' ? values.state : defaultStateDir();
}

/** clientFor returns an API client for the agent of a state directory (its local socket). */
export function clientFor(stateDir: string): ApiClient {
  return localClient(stateDir);
}

/** printJson writes one JSON document to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
