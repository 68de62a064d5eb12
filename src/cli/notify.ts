import { resolve } from 'node:path';
import { formatMoment, HindsightError } from '../core/index.ts';
import { clientFor, parseCommand, printJson, stateDirOf } from './args.ts';

const USAGE = `hindsight notify add NAME --smtp smtp://HOST:PORT --from ADDR --to ADDR,ADDR [--policy always|failures|digest]
                           [--credentials FILE] [--ca FILE] [--attach-protocol]
hindsight notify add NAME --webhook https://HOST/PATH [--secret-file FILE] [--policy failures]
hindsight notify list [--json] | remove NAME | test [NAME]

Policies: always (every alarm change and every run report), failures (alarms and failed runs; the
default), digest (one message a day). --credentials: a file with user=… and password=… lines,
read by the agent at each send. test sends a real message now and says whether it was accepted.`;

/** notify adds, lists, removes and tests the notifiers that tell people (docs/monitoring.md). */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(
    argv,
    {
      smtp: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      policy: { type: 'string' },
      credentials: { type: 'string' },
      ca: { type: 'string' },
      'attach-protocol': { type: 'boolean' },
      webhook: { type: 'string' },
      'secret-file': { type: 'string' },
    },
    USAGE,
    true,
  );
  if (values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const [sub, name, ...rest] = positionals;
  const client = clientFor(stateDirOf(values));
  const abs = (p: string | undefined) => (p === undefined ? undefined : resolve(p));
  if (sub === 'add' && name && rest.length === 0) {
    const policy = values.policy ?? 'failures';
    if (policy !== 'always' && policy !== 'failures' && policy !== 'digest') {
      throw new HindsightError('E_USAGE', `--policy ${policy}: give always, failures or digest`);
    }
    const { notifier } = await client.addNotifier(name, {
      smtp: values.smtp,
      from: values.from,
      to: values.to
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      credentials: abs(values.credentials),
      ca: abs(values.ca),
      webhook: values.webhook,
      secretFile: abs(values['secret-file']),
      policy,
      attachProtocol: values['attach-protocol'] === true,
    });
    if (values.json) printJson(notifier);
    else
      process.stdout.write(
        `notifier ${notifier.name} added: ${notifier.kind} ${notifier.target}, policy ${notifier.policy}; try it with hindsight notify test ${notifier.name}\n`,
      );
    return 0;
  }
  if (sub === 'list' && !name) {
    const { notifiers } = await client.notifiers();
    if (values.json) {
      printJson(notifiers);
      return 0;
    }
    if (notifiers.length === 0) process.stdout.write('no notifiers yet: add one with hindsight notify add\n');
    for (const n of notifiers) {
      const to = n.to.length > 0 ? ` to ${n.to.join(', ')}` : '';
      const sent = n.lastSentAt === null ? 'nothing sent yet' : `last sent ${formatMoment(n.lastSentAt)}`;
      const error = n.lastError ? `\n    last error: ${n.lastError}` : '';
      process.stdout.write(
        `${n.name}  ${n.kind} ${n.target}${to}  policy ${n.policy}${n.attachProtocol ? ', protocol attached' : ''}\n    ${sent}, ${n.pending} waiting, ${n.failed} given up${error}\n`,
      );
    }
    return 0;
  }
  if (sub === 'remove' && name && rest.length === 0) {
    await client.removeNotifier(name);
    if (!values.json) process.stdout.write(`notifier ${name} removed\n`);
    return 0;
  }
  if (sub === 'test' && rest.length === 0) {
    const { outcomes } = await client.testNotifiers(name);
    if (values.json) printJson(outcomes);
    else {
      for (const o of outcomes) {
        process.stdout.write(
          o.accepted ? `${o.name}: accepted (${o.ms} ms)\n` : `${o.name}: NOT accepted: ${o.error}\n`,
        );
      }
    }
    return outcomes.every((o) => o.accepted) ? 0 : 1;
  }
  throw new HindsightError('E_USAGE', `unknown use of notify: ${positionals.join(' ')}`, {
    hint: `usage: ${USAGE}`,
  });
}
