import { promises as fsp } from 'node:fs';
import type { Route } from '../api/index.ts';
import { HindsightError } from '../core/index.ts';
import type { Agent, VolumeInput } from './agent.ts';
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
  ];
}

/** readApiToken returns the API token of a state directory, creating it on first use. */
export async function readApiToken(file: string): Promise<string> {
  return (await fsp.readFile(file, 'utf8')).trim();
}
