import type { HEvent } from '../core/index.ts';
import { clientFor, parseCommand, stateDirOf } from './args.ts';

const USAGE = 'hindsight events [--since N] [--follow] [--json] [--state DIR]';
const POLL_WAIT_MS = 25_000;

/** events prints the node's event log; --follow keeps printing new events as they happen. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(
    argv,
    { since: { type: 'string' }, follow: { type: 'boolean', short: 'f', default: false } },
    USAGE,
  );
  if (values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const client = clientFor(stateDirOf(values));
  let since = Number(values.since ?? 0);
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  for (;;) {
    const wait = values.follow ? POLL_WAIT_MS : 0;
    let events: HEvent[];
    try {
      ({ events } = await client.events(since, wait, ac.signal));
    } catch (err) {
      if (ac.signal.aborted) return 0;
      throw err;
    }
    for (const e of events) {
      process.stdout.write(values.json ? `${JSON.stringify(e)}\n` : formatEvent(e));
      since = e.id;
    }
    if (!values.follow && events.length < 1000) return 0;
  }
}

/** formatEvent renders one event as a line for people, in local time. */
export function formatEvent(e: HEvent): string {
  const when = new Date(e.t).toLocaleString('sv-SE', { timeZoneName: 'short' });
  const where = [e.volume && `volume=${e.volume}`, e.peer && `peer=${e.peer}`].filter(Boolean).join(' ');
  const data = e.data ? ` ${JSON.stringify(e.data)}` : '';
  return `#${e.id} ${when} ${e.level.toUpperCase().padEnd(5)} ${e.type} ${where} ${e.msg}${data}\n`;
}
