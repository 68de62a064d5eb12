import { HindsightError } from '../core/index.ts';
import type {
  BackupAnswer,
  BackupPlanAnswer,
  BackupRestoreAnswer,
  DrillAnswer,
  KeepPolicyInput,
  PruneAnswer,
  TierAnswer,
  VerifyTierAnswer,
} from './answers.ts';
import type { NodeApi } from './node-api.ts';
import { bodyOf, momentField, textField } from './request-fields.ts';
import type { Route } from './router.ts';

/** backupRoutes are the tiers and backups of this node (docs/api.md, "Backups"). */
export function backupRoutes(node: NodeApi): Route[] {
  const moment = (text: unknown, what: string) =>
    text === undefined || text === null || text === '' ? undefined : momentField(text, what, node.now());
  return [
    {
      method: 'GET',
      path: '/v1/tiers',
      handler: (): { tiers: TierAnswer[] } => ({ tiers: node.backups.tiers() }),
    },
    {
      method: 'POST',
      path: '/v1/tiers',
      handler: async (c): Promise<{ tier: TierAnswer }> => {
        const body = bodyOf(c);
        const name = textField(body.name);
        const url = textField(body.url);
        if (!name || !url) throw new HindsightError('E_API_BAD_REQUEST', 'name and url are required');
        return {
          tier: await node.backups.addTier(name, url, {
            adopt: body.adopt === true,
            credentials: textField(body.credentials),
            identity: textField(body.identity),
          }),
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/backups',
      handler: ({ query }): { backups: BackupAnswer[] } => ({
        backups: node.backups.list(query.get('volume') ?? undefined),
      }),
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/backups',
      handler: async (c): Promise<{ backup: BackupAnswer }> => ({
        backup: await node.backups.run(c.params.name, moment(bodyOf(c).at, 'at')),
      }),
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/backups/restore',
      handler: (c): Promise<BackupRestoreAnswer> => {
        const body = bodyOf(c);
        const into = textField(body.into);
        if (!into) throw new HindsightError('E_API_BAD_REQUEST', 'into is required');
        return node.backups.restore(c.params.name, {
          id: textField(body.id),
          at: moment(body.at, 'at'),
          into,
          path: textField(body.path),
          tier: textField(body.tier),
        });
      },
    },
    {
      method: 'POST',
      path: '/v1/backups/prune',
      handler: (c): Promise<PruneAnswer> => {
        const body = bodyOf(c);
        return node.backups.prune(keepOf(body), {
          volume: textField(body.volume),
          access: { credentials: textField(body.credentials), identity: textField(body.identity) },
        });
      },
    },
    {
      method: 'POST',
      path: '/v1/backups/verify',
      handler: async (c): Promise<{ tiers: VerifyTierAnswer[] }> => {
        const body = bodyOf(c);
        const share = body.readShare ?? 0;
        if (typeof share !== 'number' || !(share >= 0 && share <= 1)) {
          throw new HindsightError('E_API_BAD_REQUEST', 'readShare must be a number from 0 to 1');
        }
        return { tiers: await node.backups.verify({ readShare: share, tier: textField(body.tier) }) };
      },
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/backups/drill',
      handler: (c): Promise<DrillAnswer> =>
        node.backups.drill(c.params.name, { tier: textField(bodyOf(c).tier) }),
    },
    {
      method: 'GET',
      path: '/v1/backup-plans',
      handler: (): { plans: BackupPlanAnswer[] } => ({ plans: node.backupPlans.list() }),
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/backup-plan',
      handler: (c): { plan: BackupPlanAnswer } => {
        const body = bodyOf(c);
        const textOrOff = (v: unknown, what: string) => {
          if (v === undefined) return undefined;
          if (v === null || v === 'off') return null;
          if (typeof v !== 'string' || v === '')
            throw new HindsightError('E_API_BAD_REQUEST', `${what} must be a schedule or "off"`);
          return v;
        };
        let keep: KeepPolicyInput | null | undefined;
        if (body.keep === null) keep = null;
        else if (body.keep !== undefined) keep = keepOf(body.keep as Record<string, unknown>);
        return {
          plan: node.backupPlans.set(c.params.name, {
            schedule: textOrOff(body.schedule, 'schedule'),
            keep,
            drill: textOrOff(body.drill, 'drill'),
          }),
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/backup-key',
      handler: (): { keyFile: string } => ({ keyFile: node.backups.exportKey() }),
    },
  ];
}

/** keepOf reads a keep policy (`last`, `hourly`, … as whole numbers) from a request body. */
function keepOf(body: Record<string, unknown>): KeepPolicyInput {
  const policy: KeepPolicyInput = {};
  for (const k of ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const) {
    const v = body[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new HindsightError('E_API_BAD_REQUEST', `${k} must be a whole number of backups to keep`);
    }
    policy[k] = v;
  }
  return policy;
}
