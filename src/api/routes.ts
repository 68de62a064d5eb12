import { HindsightError, type RolesInput, type VolumeInput } from '../core/index.ts';
import type {
  EventsAnswer,
  GcAnswer,
  InviteAnswer,
  StatusReport,
  VerifyReport,
  VolumeInfo,
} from './answers.ts';
import { backupRoutes } from './backup-routes.ts';
import { metricsRoute } from './metrics.ts';
import { monitorRoutes } from './monitor-routes.ts';
import type { NodeApi } from './node-api.ts';
import { bodyOf, textField } from './request-fields.ts';
import { roleRoutes } from './role-routes.ts';
import type { Route } from './router.ts';
import { timelineRoutes } from './timeline-routes.ts';

/** MAX_EVENT_WAIT_MS bounds one long poll of `GET /v1/events`. */
const MAX_EVENT_WAIT_MS = 30_000;

/**
 * apiRoutes maps the HTTP API (docs/api.md) onto a node. Handlers reach the node only when
 * called, so the table can be listed without one (the API test walks it).
 */
export function apiRoutes(node: NodeApi): Route[] {
  return [
    ...nodeRoutes(node),
    ...volumeRoutes(node),
    ...timelineRoutes(node),
    ...roleRoutes(node),
    ...backupRoutes(node),
    ...monitorRoutes(node),
  ];
}

/** nodeRoutes: status, events, metrics, invites, the chunk store, the relay to other nodes. */
function nodeRoutes(node: NodeApi): Route[] {
  return [
    { method: 'GET', path: '/v1/status', handler: (): StatusReport => node.status() },
    {
      method: 'GET',
      path: '/v1/events',
      handler: async ({ query, signal }): Promise<EventsAnswer> => {
        const since = Number(query.get('since') ?? 0);
        const wait = Math.min(Number(query.get('wait') ?? 0), MAX_EVENT_WAIT_MS);
        if (!Number.isSafeInteger(since) || since < 0 || !Number.isFinite(wait) || wait < 0) {
          throw new HindsightError('E_API_BAD_REQUEST', 'since and wait must be non-negative numbers');
        }
        return { events: await node.events(since, wait, signal) };
      },
    },
    { method: 'POST', path: '/v1/invites', handler: (): Promise<InviteAnswer> => node.invite() },
    {
      method: 'POST',
      path: '/v1/verify',
      handler: async (): Promise<{ report: VerifyReport }> => ({ report: await node.verify() }),
    },
    { method: 'POST', path: '/v1/gc', handler: (): Promise<GcAnswer> => node.collect() },
    { method: 'GET', path: '/metrics', handler: metricsRoute(() => node.status()) },
    {
      method: 'POST',
      path: '/v1/relay',
      handler: (ctx) => {
        const b = bodyOf(ctx);
        const method = b.method;
        if (typeof b.node !== 'string' || (method !== 'GET' && method !== 'POST') || !textField(b.path)) {
          throw new HindsightError('E_API_BAD_REQUEST', 'relay needs node, method (GET or POST) and path');
        }
        return node.relay(b.node, method, b.path as string, b.body);
      },
    },
  ];
}

/** volumeRoutes: the volumes of this node, added and changed on their primary. */
function volumeRoutes(node: NodeApi): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/volumes',
      handler: async ({ body }) => ({ volume: await node.addVolume(body as VolumeInput) }),
    },
    {
      method: 'GET',
      path: '/v1/volumes',
      handler: (): { volumes: VolumeInfo[] } => ({ volumes: node.volumes() }),
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/set',
      handler: ({ params, body }) => ({ volume: node.setRoles(params.name, (body ?? {}) as RolesInput) }),
    },
  ];
}
