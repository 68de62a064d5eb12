import { formatDuration, formatMoment, HindsightError, parseDuration } from '../core/index.ts';
import { clientFor, parseCommand, printJson, stateDirOf } from './args.ts';

const USAGE = `hindsight check [NAME] [--json]                    run every check (or one) now; exit 0 ok, 1 warning, 2 critical, 3 unknown
hindsight check list [--json]                      each check: state, since, last value, threshold, schedule
hindsight check set NAME [--warn T] [--crit T] [--path DIR] [--every 5m] [--enable|--disable]
hindsight check add NAME --script /path/to/plugin [--args "ARG …"] [--every 5m] [--timeout 30s]
hindsight check remove NAME                        a custom check goes; a built-in one returns to its defaults

Thresholds are in the check's unit: 15% (disk-free, memory), 90s, 5m, 4h (lag, funnel, witness), 26h
(backup-age), 30d (certificates, drill). A custom check is any monitoring plugin (Nagios, Icinga):
exit 0 ok, 1 warning, 2 critical, 3 unknown, the first line of its output the message.`;

const EXIT_OF = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;

/** check runs the checks now, lists them and changes their settings (docs/monitoring.md). */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(
    argv,
    {
      warn: { type: 'string' },
      crit: { type: 'string' },
      path: { type: 'string' },
      every: { type: 'string' },
      enable: { type: 'boolean' },
      disable: { type: 'boolean' },
      script: { type: 'string' },
      args: { type: 'string' },
      timeout: { type: 'string' },
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
  const every = values.every === undefined ? undefined : parseDuration(values.every);
  if (sub === 'list' && !name) {
    const { checks, results } = await client.checks();
    if (values.json) {
      printJson({ checks, results });
      return 0;
    }
    for (const c of checks) {
      const limits = [
        c.warn !== null && `warn ${c.warn}${c.unit ?? ''}`,
        c.crit !== null && `crit ${c.crit}${c.unit ?? ''}`,
      ]
        .filter(Boolean)
        .join(', ');
      const off = c.enabled ? '' : '  DISABLED';
      process.stdout.write(
        `${c.name}  every ${formatDuration(c.everyMs)}${limits ? `  ${limits}` : ''}${off}\n    ${c.what}\n`,
      );
      for (const [path, t] of Object.entries(c.paths)) {
        process.stdout.write(
          `    ${path}: warn ${t.warn ?? '-'}${c.unit ?? ''}, crit ${t.crit ?? '-'}${c.unit ?? ''}\n`,
        );
      }
      for (const r of results.filter((x) => x.check === c.name)) {
        process.stdout.write(
          `    ${r.state.toUpperCase().padEnd(8)} ${r.subject}: ${r.message} (since ${formatMoment(r.since)})\n`,
        );
      }
    }
    return 0;
  }
  if (sub === 'set' && name && rest.length === 0) {
    if (values.enable && values.disable)
      throw new HindsightError('E_USAGE', '--enable and --disable contradict each other');
    const { check } = await client.setCheck(name, {
      warn: values.warn,
      crit: values.crit,
      path: values.path,
      everyMs: every,
      enabled: values.enable ? true : values.disable ? false : undefined,
    });
    if (values.json) printJson(check);
    else
      process.stdout.write(
        `check ${check.name}: warn ${check.warn ?? '-'}, crit ${check.crit ?? '-'}, every ${formatDuration(check.everyMs)}${check.enabled ? '' : ', disabled'}\n`,
      );
    return 0;
  }
  if (sub === 'add' && name && rest.length === 0) {
    if (!values.script)
      throw new HindsightError('E_USAGE', 'check add needs --script', { hint: `usage: ${USAGE}` });
    const { check } = await client.addCheck(name, {
      script: values.script,
      args: values.args === undefined ? [] : values.args.split(' ').filter(Boolean),
      everyMs: every,
      timeoutMs: values.timeout === undefined ? undefined : parseDuration(values.timeout),
    });
    if (values.json) printJson(check);
    else
      process.stdout.write(
        `check ${check.name} added: ${check.script} every ${formatDuration(check.everyMs)}\n`,
      );
    return 0;
  }
  if (sub === 'remove' && name && rest.length === 0) {
    await client.removeCheck(name);
    if (!values.json)
      process.stdout.write(`check ${name} removed (a built-in check is back at its defaults)\n`);
    return 0;
  }
  if (
    sub === 'run' ||
    sub === undefined ||
    (positionals.length === 1 && !['list', 'set', 'add', 'remove'].includes(sub))
  ) {
    const only = sub === 'run' ? name : sub;
    const answer = await client.runChecks(only);
    if (values.json) printJson(answer);
    else {
      for (const r of answer.results) {
        process.stdout.write(`${r.state.toUpperCase().padEnd(8)} ${r.check} ${r.subject}: ${r.message}\n`);
      }
      process.stdout.write(`${answer.state.toUpperCase()}: ${answer.results.length} results\n`);
    }
    return EXIT_OF[answer.state];
  }
  throw new HindsightError('E_USAGE', `unknown use of check: ${positionals.join(' ')}`, {
    hint: `usage: ${USAGE}`,
  });
}
