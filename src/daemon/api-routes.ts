import { promises as fsp } from 'node:fs';
import { BinaryAnswer, type Route } from '../api/index.ts';
import { HindsightError, parseDuration, parseMoment } from '../core/index.ts';
import type { Agent, RolesInput, VolumeInput } from './agent.ts';
import { metricsText } from './metrics.ts';

/** MAX_EVENT_WAIT_MS bounds one long poll of `GET /v1/events`. */
const MAX_EVENT_WAIT_MS = 30_000;

/** apiRoutes maps the HTTP API (docs/api.md) onto an agent. */
export function apiRoutes(agent: Agent): Route[] {
  return [
    { method: 'GET', path: '/v1/status', handler: () => agent.status() },
    {
      method: 'GET',
      path: '/v1/events',
      handler: async ({ query, signal }) => {
        const since = Number(query.get('since') ?? 0);
        const wait = Math.min(Number(query.get('wait') ?? 0), MAX_EVENT_WAIT_MS);
        if (!Number.isSafeInteger(since) || since < 0 || !Number.isFinite(wait) || wait < 0) {
          throw new HindsightError('E_API_BAD_REQUEST', 'since and wait must be non-negative numbers');
        }
        return { events: await agent.events.wait(since, wait, signal) };
      },
    },
    {
      method: 'POST',
      path: '/v1/volumes',
      handler: async ({ body }) => ({ volume: await agent.addVolume(body as VolumeInput) }),
    },
    { method: 'GET', path: '/v1/volumes', handler: () => ({ volumes: agent.volumes.list() }) },
    {
      method: 'POST',
      path: '/v1/volumes/:name/set',
      handler: ({ params, body }) => ({ volume: agent.setRoles(params.name, (body ?? {}) as RolesInput) }),
    },
    {
      method: 'POST',
      path: '/v1/invites',
      handler: async () => agent.invites.create(),
    },
    {
      method: 'POST',
      path: '/v1/verify',
      handler: async () => {
        const report = await agent.store.verify();
        const isOk = report.bad.length === 0;
        agent.events.emit({
          level: isOk ? 'info' : 'error',
          type: isOk ? 'store.verify-ok' : 'store.verify-failed',
          msg: isOk ? 'chunk store verified' : 'chunk store has damaged or missing chunks',
          data: {
            chunks: report.chunks,
            bytes: report.bytes,
            bad: report.bad.slice(0, 20),
            badCount: report.bad.length,
          },
        });
        return { report };
      },
    },
    { method: 'GET', path: '/metrics', handler: () => metricsText(agent.status()) },
    {
      method: 'POST',
      path: '/v1/relay',
      handler: ({ body }) => {
        const b = (body ?? {}) as { node?: unknown; method?: unknown; path?: unknown; body?: unknown };
        if (
          typeof b.node !== 'string' ||
          (b.method !== 'GET' && b.method !== 'POST') ||
          typeof b.path !== 'string'
        ) {
          throw new HindsightError('E_API_BAD_REQUEST', 'relay needs node, method (GET or POST) and path');
        }
        return agent.relay(b.node, b.method, b.path, b.body);
      },
    },
    ...timelineRoutes(agent),
  ];
}

/** timelineRoutes are the funnel and the past of a mirrored volume (docs/api.md, "Timeline"). */
function timelineRoutes(agent: Agent): Route[] {
  const views = agent.mirrorViews;
  const past = agent.past;
  const moment = (text: unknown, what: string): number => {
    if (typeof text !== 'string' || text === '') {
      throw new HindsightError('E_API_BAD_REQUEST', `${what} is required`, {
        hint: 'e.g. "10 minutes ago" or 2026-11-22T14:03',
      });
    }
    return parseMoment(text, agent.clock.now());
  };
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  /** view is the optional `view` of a body: a name, or absent for every view. */
  const view = (ctx: { body: unknown }): string | undefined => {
    const v = body(ctx).view;
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new HindsightError('E_API_BAD_REQUEST', 'view must be a view name');
    return v;
  };
  const body = (ctx: { body: unknown }) => (ctx.body ?? {}) as Record<string, unknown>;
  return [
    {
      method: 'POST',
      path: '/v1/volumes/:name/hold',
      handler: (c) => ({ views: views.hold(c.params.name, view(c)) }),
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/resume',
      handler: (c) => ({ views: views.resume(c.params.name, view(c)) }),
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/delay',
      handler: (c) => {
        // A duration text ("30m") or a number of ms.
        const delay = body(c).delay;
        const ms =
          typeof delay === 'number' && Number.isSafeInteger(delay) && delay >= 0
            ? delay
            : typeof delay === 'string' && delay !== ''
              ? parseDuration(delay)
              : undefined;
        if (ms === undefined) {
          throw new HindsightError('E_API_BAD_REQUEST', 'delay is required: a duration or a number of ms', {
            hint: 'e.g. "30m", "4h", "0" or 1800000',
          });
        }
        return { views: views.setDelay(c.params.name, ms, view(c)) };
      },
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/rewind',
      handler: (c) => views.rewind(c.params.name, moment(body(c).to, 'to'), view(c)),
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/discard',
      handler: (c) => views.discard(c.params.name, moment(body(c).after, 'after')),
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/preview',
      handler: (c) => {
        const into = str(body(c).into);
        if (!into) throw new HindsightError('E_API_BAD_REQUEST', 'into is required');
        return past.preview(c.params.name, moment(body(c).at, 'at'), into);
      },
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/restore',
      handler: (c) => {
        const { path, into } = { path: str(body(c).path), into: str(body(c).into) };
        if (!path || !into) throw new HindsightError('E_API_BAD_REQUEST', 'path and into are required');
        return past.restore(c.params.name, path, moment(body(c).at, 'at'), into);
      },
    },
    {
      method: 'GET',
      path: '/v1/volumes/:name/timeline',
      handler: ({ params, query }) => {
        const now = agent.clock.now();
        const since = query.get('since') ? moment(query.get('since'), 'since') : 0;
        const until = query.get('until') ? moment(query.get('until'), 'until') : now;
        return past.timeline(params.name, since, until, query.get('path') ?? undefined);
      },
    },
    {
      method: 'GET',
      path: '/v1/volumes/:name/ls',
      handler: ({ params, query }) =>
        past.list(params.name, moment(query.get('at'), 'at'), query.get('path') ?? ''),
    },
    {
      method: 'GET',
      path: '/v1/volumes/:name/cat',
      handler: ({ params, query }) => {
        const file = past.read(params.name, moment(query.get('at'), 'at'), query.get('path') ?? '');
        return new BinaryAnswer(file.size, file.chunks);
      },
    },
    { method: 'POST', path: '/v1/gc', handler: () => views.collect() },
    {
      method: 'POST',
      path: '/v1/volumes/:name/promote',
      handler: (c) => {
        const b = body(c);
        const at = b.at === undefined || b.at === null ? undefined : moment(b.at, 'at');
        return agent.roles.promote(c.params.name, { at, force: b.force === true });
      },
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/switchover',
      handler: (c) => agent.roles.switchover(c.params.name, str(body(c).to)),
    },
    {
      method: 'GET',
      path: '/v1/volumes/:name/divergence',
      handler: ({ params }) => ({ quarantine: agent.roles.quarantine(params.name) }),
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/divergence/export',
      handler: (c) => {
        const into = str(body(c).into);
        if (!into) throw new HindsightError('E_API_BAD_REQUEST', 'into is required');
        const origin = str(body(c).origin);
        if (origin !== undefined && origin !== 'divergence' && origin !== 'after-promote') {
          throw new HindsightError('E_API_BAD_REQUEST', 'origin is divergence or after-promote');
        }
        return agent.roles.exportQuarantine(c.params.name, into, origin);
      },
    },
  ];
}

/** readApiToken returns the API token of a state directory, creating it on first use. */
export async function readApiToken(file: string): Promise<string> {
  return (await fsp.readFile(file, 'utf8')).trim();
}
