import type { HEvent } from '../core/index.ts';
import { clientFor, parseCommand, stateDirOf } from './args.ts';

const USAGE = `hindsight events [--after ID] [--follow] [--json] [--state DIR]
hindsight events --since T [--until T] [--json]      export a time range (T: ISO-8601 or "2 days ago")`;
const POLL_WAIT_MS = 25_000;

/** events prints the node's event log; --follow keeps printing new events as they happen. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(
    argv,
    {
      after: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      follow: { type: 'boolean', short: 'f', default: false },
    },
    USAGE,
  );
  if (values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const client = clientFor(stateDirOf(values));
  if (values.since !== undefined && !/^\d+$/.test(values.since)) {
    // An export of a time range, page by page.
    let after = 0;
    for (;;) {
      const { events } = await client.eventRange(values.since, values.until, after);
      for (const e of events) process.stdout.write(values.json ? `${JSON.stringify(e)}\n` : formatEvent(e));
      if (events.length < 1000) return 0;
      after = events[events.length - 1].id;
    }
  }
  let since = Number(values.after ?? values.since ?? 0);
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
