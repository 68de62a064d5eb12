import { HindsightError } from '../core/index.ts';
import {
  type AlarmInfo,
  CHECK_EXIT,
  type CheckDefinition,
  type CheckResult,
  type CheckState,
  type NotifierInfo,
  type NotifierInput,
  type TestOutcome,
  worseState,
} from '../monitor/index.ts';
import type { NodeApi } from './node-api.ts';
import { bodyOf, momentField, textField } from './request-fields.ts';
import { type Route, StatusAnswer } from './router.ts';

/** CheckRunAnswer is what `hindsight check` gets: every result and the exit code they add up to. */
export interface CheckRunAnswer {
  results: CheckResult[];
  state: CheckState;
  exitCode: number;
}

/** monitorRoutes: checks, alarms, notifiers, the event export, and the health endpoints. */
export function monitorRoutes(node: NodeApi): Route[] {
  const m = () => node.monitor;
  const name = (b: Record<string, unknown>) => {
    const n = textField(b.name);
    if (!n) throw new HindsightError('E_API_BAD_REQUEST', 'name is required');
    return n;
  };
  const ms = (v: unknown, what: string) => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new HindsightError('E_API_BAD_REQUEST', `${what} must be a positive number of milliseconds`);
    }
    return v;
  };
  return [
    {
      method: 'GET',
      path: '/v1/checks',
      handler: (): { checks: CheckDefinition[]; results: CheckResult[] } => ({
        checks: m().checks.definitions(),
        results: m().checks.results(),
      }),
    },
    {
      method: 'POST',
      path: '/v1/checks/run',
      handler: async (c): Promise<CheckRunAnswer> => {
        const only = textField(bodyOf(c).name);
        const results = only ? await m().checks.run(only) : await m().checks.runAll();
        const state = results.reduce<CheckState>((w, r) => worseState(w, r.state), 'ok');
        return { results, state, exitCode: CHECK_EXIT[state] };
      },
    },
    {
      method: 'POST',
      path: '/v1/checks/set',
      handler: (c): { check: CheckDefinition } => {
        const b = bodyOf(c);
        return {
          check: m().checks.set(name(b), {
            warn: textField(b.warn),
            crit: textField(b.crit),
            path: textField(b.path),
            everyMs: ms(b.everyMs, 'everyMs'),
            enabled: typeof b.enabled === 'boolean' ? b.enabled : undefined,
          }),
        };
      },
    },
    {
      method: 'POST',
      path: '/v1/checks/add',
      handler: (c): { check: CheckDefinition } => {
        const b = bodyOf(c);
        const script = textField(b.script);
        if (!script) throw new HindsightError('E_API_BAD_REQUEST', 'script is required');
        const args = Array.isArray(b.args) ? b.args.map(String) : [];
        return {
          check: m().checks.add(name(b), {
            script,
            args,
            everyMs: ms(b.everyMs, 'everyMs'),
            timeoutMs: ms(b.timeoutMs, 'timeoutMs'),
          }),
        };
      },
    },
    {
      method: 'POST',
      path: '/v1/checks/remove',
      handler: (c) => {
        m().checks.remove(name(bodyOf(c)));
        return { removed: true };
      },
    },
    {
      method: 'GET',
      path: '/v1/alarms',
      handler: ({ query }): { alarms: AlarmInfo[]; reminderMs: number } => ({
        alarms: query.get('recent') ? m().alarms.recent(Number(query.get('recent'))) : m().alarms.open(),
        reminderMs: m().alarms.reminderMs(),
      }),
    },
    {
      method: 'POST',
      path: '/v1/alarms/ack',
      handler: (c): { alarm: AlarmInfo } => {
        const b = bodyOf(c);
        const id = Number(b.id);
        if (!Number.isSafeInteger(id) || id <= 0)
          throw new HindsightError('E_API_BAD_REQUEST', 'id must be an alarm id');
        return { alarm: m().alarms.ack(id, textField(b.by) ?? null) };
      },
    },
    {
      method: 'POST',
      path: '/v1/alarms/settings',
      handler: (c) => {
        const b = bodyOf(c);
        return m().alarms.configure({
          reminderMs: ms(b.reminderMs, 'reminderMs'),
          hook: typeof b.hook === 'string' ? b.hook : undefined,
        });
      },
    },
    {
      method: 'GET',
      path: '/v1/notifiers',
      handler: (): { notifiers: NotifierInfo[] } => ({ notifiers: m().notices.list() }),
    },
    {
      method: 'POST',
      path: '/v1/notifiers',
      handler: (c): { notifier: NotifierInfo } => {
        const b = bodyOf(c);
        return { notifier: m().notices.add(name(b), b.notifier as NotifierInput) };
      },
    },
    {
      method: 'POST',
      path: '/v1/notifiers/remove',
      handler: (c) => {
        m().notices.remove(name(bodyOf(c)));
        return { removed: true };
      },
    },
    {
      method: 'POST',
      path: '/v1/notifiers/test',
      handler: async (c): Promise<{ outcomes: TestOutcome[] }> => ({
        outcomes: await m().notices.test(textField(bodyOf(c).name)),
      }),
    },
    {
      method: 'GET',
      path: '/v1/events/range',
      handler: ({ query }) => {
        const now = node.now();
        const from = query.get('since') ? momentField(query.get('since'), 'since', now) : 0;
        const until = query.get('until') ? momentField(query.get('until'), 'until', now) : now;
        const after = Number(query.get('after') ?? 0);
        if (!Number.isSafeInteger(after) || after < 0) {
          throw new HindsightError('E_API_BAD_REQUEST', 'after must be an event id');
        }
        return { events: m().events.between(from, until, after, 1000) };
      },
    },
    { method: 'GET', path: '/health', open: true, handler: () => health(node, 'health') },
    {
      method: 'GET',
      path: '/primary',
      open: true,
      handler: ({ query }) => health(node, 'primary', query.get('volume')),
    },
    {
      method: 'GET',
      path: '/mirror',
      open: true,
      handler: ({ query }) => health(node, 'mirror', query.get('volume')),
    },
  ];
}

/**
 * health answers the endpoints load balancers and keepalived ask, as Patroni's do: 200 or 503
 * with a JSON body saying why. /health: the agent runs, no volume is stopped and no check is
 * critical. /primary: this node serves as primary (the volume given, or any), active. /mirror:
 * this node mirrors it (or any), active, with its link from the primary up.
 */
function health(node: NodeApi, kind: 'health' | 'primary' | 'mirror', volume?: string | null): StatusAnswer {
  const status = node.status();
  const volumes = status.volumes.filter((v) => !volume || v.name === volume);
  let reasons: string[];
  if (kind === 'health') {
    reasons = [
      ...volumes
        .filter((v) => v.state === 'stopped')
        .map((v) => `volume ${v.name} stopped: ${v.reason ?? ''}`),
      ...status.checks
        .filter((c) => c.state === 'critical')
        .map((c) => `${c.check} ${c.subject}: ${c.message}`),
    ];
  } else {
    const serving = volumes.filter(
      (v) => v.role === kind && v.state === 'active' && (kind === 'primary' || v.link === 'connected'),
    );
    reasons =
      serving.length > 0
        ? []
        : [volume ? `not an active ${kind} of ${volume}` : `no active ${kind} volume here`];
  }
  const body = {
    node: status.node,
    ok: reasons.length === 0,
    reasons,
    volumes: volumes.map((v) => ({ name: v.name, role: v.role, state: v.state, epoch: v.epoch })),
    readiness: status.readiness.score,
  };
  return new StatusAnswer(reasons.length === 0 ? 200 : 503, body);
}
