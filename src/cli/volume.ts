import { HindsightError, parseDuration } from '../core/index.ts';
import { clientFor, parseCommand, printJson, stateDirOf } from './args.ts';

const USAGE =
  'hindsight volume add NAME --path DIR --primary NODE --mirror NODE:DIR [--mirror NODE:DIR]... [--delay D] [--history D]\n' +
  '       [--view NODE:NAME:DIR[@DELAY]]... [--guard-share FRACTION] [--guard-window D] [--guard-min N]\n' +
  '       [--include GLOB]... [--exclude GLOB]... [--state DIR] [--json]\n' +
  '       hindsight volume set NAME [--failover auto|manual] [--heartbeat D] [--timeout D]\n' +
  '       [--address IP/PREFIX --interface IFACE | --no-address] [--hook NAME=EXECUTABLE | --hook NAME=]...\n' +
  '       [--hook-timeout D] [--witness NODE] [--state DIR] [--json]\n' +
  "       hindsight volume set NAME [--backup 'daily 02:00'|hourly|'every 6h'|off] [--keep-last N] [--keep-daily N]...\n" +
  '       [--drill weekly|daily|monthly|off]   (on the node that takes the backups)\n' +
  '       hindsight volume list [--state DIR] [--json]';

type ExtraView = { name: string; path: string; delayMs: number };

/** volume adds and lists protected data sets. */
export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseCommand(
    rest,
    {
      path: { type: 'string' },
      primary: { type: 'string' },
      mirror: { type: 'string', multiple: true },
      include: { type: 'string', multiple: true },
      exclude: { type: 'string', multiple: true },
      delay: { type: 'string' },
      history: { type: 'string' },
      view: { type: 'string', multiple: true },
      'guard-share': { type: 'string' },
      'guard-window': { type: 'string' },
      'guard-min': { type: 'string' },
      failover: { type: 'string' },
      heartbeat: { type: 'string' },
      timeout: { type: 'string' },
      address: { type: 'string' },
      interface: { type: 'string' },
      'no-address': { type: 'boolean' },
      hook: { type: 'string', multiple: true },
      'hook-timeout': { type: 'string' },
      witness: { type: 'string' },
      backup: { type: 'string' },
      drill: { type: 'string' },
      'keep-last': { type: 'string' },
      'keep-hourly': { type: 'string' },
      'keep-daily': { type: 'string' },
      'keep-weekly': { type: 'string' },
      'keep-monthly': { type: 'string' },
      'keep-yearly': { type: 'string' },
    },
    USAGE,
    true,
  );
  const client = clientFor(stateDirOf(values));
  if (sub === 'list') {
    const { volumes } = await client.volumes();
    if (values.json) printJson(volumes);
    else for (const v of volumes) process.stdout.write(`${v.name}\t${v.role}\t${v.path}\t${v.state}\n`);
    return 0;
  }
  if (sub === 'set' && !values.help) {
    if (positionals.length !== 1)
      throw new HindsightError('E_USAGE', 'volume set takes one NAME', { hint: `usage: ${USAGE}` });
    const hooks: Record<string, string> = {};
    for (const h of values.hook ?? []) {
      const i = h.indexOf('=');
      if (i <= 0)
        throw new HindsightError('E_USAGE', `--hook ${h}: expected NAME=EXECUTABLE (or NAME= to remove)`);
      hooks[h.slice(0, i)] = h.slice(i + 1);
    }
    const plan = backupPlanOf(values);
    if (plan !== undefined) {
      const { plan: set } = await client.setBackupPlan(positionals[0], plan);
      if (values.json) printJson(set);
      else {
        const keep = set.keep
          ? Object.entries(set.keep)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')
          : 'everything';
        process.stdout.write(
          `${set.volume}: backups ${set.schedule ?? 'not scheduled'}, keep ${keep}, drills ${set.drill ?? 'not scheduled'}\n`,
        );
      }
      if (!hasRoleOptions(values)) return 0;
    }
    const ms = (d: string | undefined) => (d === undefined ? undefined : parseDuration(d));
    const failover = values.failover as 'manual' | 'auto' | undefined;
    const { volume } = await client.setRoles(positionals[0], {
      failover,
      heartbeatMs: ms(values.heartbeat),
      timeoutMs: ms(values.timeout),
      address: values['no-address'] ? null : values.address,
      interface: values['no-address'] ? null : values.interface,
      hooks,
      hookTimeoutMs: ms(values['hook-timeout']),
      witness: values.witness === undefined ? undefined : values.witness === '' ? null : values.witness,
    });
    if (values.json) printJson(volume);
    else {
      const r = volume.roles;
      const hookList = Object.entries(r.hooks).map(([k, v]) => `${k}=${v}`);
      process.stdout.write(
        `${volume.name}: failover ${r.failover}, heartbeat ${r.heartbeatMs} ms, timeout ${r.timeoutMs} ms, ` +
          `witness ${r.witness ?? 'none'}, address ${r.address ? `${r.address} on ${r.interface}` : 'none'}, ` +
          `hooks ${hookList.join(' ') || 'none'}\n`,
      );
    }
    return 0;
  }
  if (sub !== 'add' || values.help) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (positionals.length !== 1)
    throw new HindsightError('E_USAGE', 'volume add takes one NAME', { hint: `usage: ${USAGE}` });
  if (!values.path || !values.primary || !values.mirror?.length) {
    throw new HindsightError('E_USAGE', 'volume add needs --path, --primary and at least one --mirror', {
      hint: `usage: ${USAGE}`,
    });
  }
  const delayMs = values.delay ? parseDuration(values.delay) : 0;
  const mirrors = values.mirror.map((m) => {
    const i = m.indexOf(':');
    if (i <= 0 || i === m.length - 1) throw new HindsightError('E_USAGE', `--mirror ${m}: expected NODE:DIR`);
    return { node: m.slice(0, i), path: m.slice(i + 1), delayMs, views: [] as ExtraView[] };
  });
  for (const spec of values.view ?? []) {
    const m = /^([^:]+):([^:]+):(\/[^@]*)(?:@(.+))?$/.exec(spec);
    const mirror = m && mirrors.find((x) => x.node === m[1]);
    if (!m || !mirror) {
      throw new HindsightError(
        'E_USAGE',
        `--view ${spec}: expected NODE:NAME:DIR[@DELAY] for a node given with --mirror`,
      );
    }
    mirror.views.push({ name: m[2], path: m[3], delayMs: m[4] ? parseDuration(m[4]) : 0 });
  }
  const guard: Record<string, number> = {};
  if (values['guard-share'] !== undefined) guard.share = Number(values['guard-share']);
  if (values['guard-window'] !== undefined) guard.windowMs = parseDuration(values['guard-window']);
  if (values['guard-min'] !== undefined) guard.minFiles = Number(values['guard-min']);
  const { volume } = await client.addVolume({
    name: positionals[0],
    path: values.path,
    primary: values.primary,
    mirrors,
    include: values.include ?? [],
    exclude: values.exclude ?? [],
    historyMs: values.history ? parseDuration(values.history) : undefined,
    guard,
  });
  if (values.json) printJson(volume);
  else
    process.stdout.write(
      `volume ${volume.name} added: ${volume.primary.node}:${volume.primary.path} → ${mirrors.map((m) => `${m.node}:${m.path}`).join(', ')}\n`,
    );
  return 0;
}

const KEEPS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;

/** backupPlanOf reads the backup options of `volume set`, or undefined when none is given. */
function backupPlanOf(
  values: Record<string, unknown>,
): { schedule?: string | null; keep?: Record<string, number>; drill?: string | null } | undefined {
  const keep: Record<string, number> = {};
  for (const k of KEEPS) {
    const v = values[`keep-${k}`];
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0)
      throw new HindsightError('E_USAGE', `--keep-${k} ${v} is not a number of backups`);
    keep[k] = n;
  }
  const off = (v: unknown) => (v === undefined ? undefined : v === 'off' ? null : String(v));
  const schedule = off(values.backup);
  const drill = off(values.drill);
  if (schedule === undefined && drill === undefined && Object.keys(keep).length === 0) return undefined;
  return { schedule, drill, keep: Object.keys(keep).length > 0 ? keep : undefined };
}

/** hasRoleOptions says whether `volume set` was given any option of the volume's roles. */
function hasRoleOptions(values: Record<string, unknown>): boolean {
  return [
    'failover',
    'heartbeat',
    'timeout',
    'address',
    'interface',
    'no-address',
    'hook',
    'hook-timeout',
    'witness',
  ].some((k) => values[k] !== undefined);
}
