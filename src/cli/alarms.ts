import { formatDuration, formatMoment, HindsightError, parseDuration } from '../core/index.ts';
import { clientFor, parseCommand, printJson, stateDirOf } from './args.ts';

const USAGE = `hindsight alarms [--recent 24h] [--json]          the open alarms (and those closed within --recent)
hindsight alarm ack ID [--by NAME]                  acknowledge one: no more reminders
hindsight alarm set [--remind 4h] [--hook /path/to/on-alarm | --hook '']`;

/** alarms lists the open alarms; `alarm` acknowledges one and sets reminders and the hook. */
export async function run(argv: string[], command: string): Promise<number> {
  const { values, positionals } = parseCommand(
    argv,
    {
      recent: { type: 'string' },
      by: { type: 'string' },
      remind: { type: 'string' },
      hook: { type: 'string' },
    },
    USAGE,
    true,
  );
  if (values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const client = clientFor(stateDirOf(values));
  const [sub, id] = positionals;
  if (command === 'alarms' && positionals.length === 0) {
    const recent = values.recent === undefined ? undefined : parseDuration(values.recent);
    const { alarms, reminderMs } = await client.alarms(recent);
    if (values.json) {
      printJson({ alarms, reminderMs });
      return 0;
    }
    if (alarms.length === 0) process.stdout.write('no open alarms\n');
    for (const a of alarms) {
      const state = a.closedAt !== null ? `RESOLVED ${formatMoment(a.closedAt)}` : a.state.toUpperCase();
      const ack = a.ackedAt !== null ? `, acknowledged${a.ackedBy ? ` by ${a.ackedBy}` : ''}` : '';
      process.stdout.write(
        `#${a.id} ${state}  ${a.check} ${a.subject}: ${a.message} (since ${formatMoment(a.openedAt)}${ack})\n`,
      );
    }
    if (alarms.length > 0)
      process.stdout.write(`unacknowledged alarms are sent again every ${formatDuration(reminderMs)}\n`);
    return 0;
  }
  if (command === 'alarm' && sub === 'ack' && id && positionals.length === 2) {
    const { alarm } = await client.ackAlarm(Number(id), values.by);
    if (values.json) printJson(alarm);
    else process.stdout.write(`alarm #${alarm.id} acknowledged: ${alarm.check} ${alarm.subject}\n`);
    return 0;
  }
  if (command === 'alarm' && sub === 'set' && positionals.length === 1) {
    const answer = await client.alarmSettings({
      reminderMs: values.remind === undefined ? undefined : parseDuration(values.remind),
      hook: values.hook,
    });
    if (values.json) printJson(answer);
    else
      process.stdout.write(
        `reminders every ${formatDuration(answer.reminderMs)}; on-alarm hook ${answer.hook ?? 'none'}\n`,
      );
    return 0;
  }
  throw new HindsightError('E_USAGE', `unknown use of ${command}: ${positionals.join(' ')}`, {
    hint: `usage: ${USAGE}`,
  });
}
