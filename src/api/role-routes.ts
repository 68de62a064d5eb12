import { HindsightError } from '../core/index.ts';
import type { ExportAnswer, PromoteOutcome, QuarantineEntry, SwitchoverOutcome } from './answers.ts';
import type { NodeApi } from './node-api.ts';
import { bodyOf, momentField, textField } from './request-fields.ts';
import type { Route } from './router.ts';

/** roleRoutes change which node is primary, and list what role changes kept aside (docs/api.md, "Roles"). */
export function roleRoutes(node: NodeApi): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/volumes/:name/promote',
      handler: (c): Promise<PromoteOutcome> => {
        const b = bodyOf(c);
        const at = b.at === undefined || b.at === null ? undefined : momentField(b.at, 'at', node.now());
        return node.roles.promote(c.params.name, { at, force: b.force === true });
      },
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/switchover',
      handler: (c): Promise<SwitchoverOutcome> =>
        node.roles.switchover(c.params.name, textField(bodyOf(c).to)),
    },
    {
      method: 'GET',
      path: '/v1/volumes/:name/divergence',
      handler: ({ params }): { quarantine: QuarantineEntry[] } => ({
        quarantine: node.roles.divergence(params.name),
      }),
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/divergence/export',
      handler: (c): Promise<ExportAnswer> => {
        const into = textField(bodyOf(c).into);
        if (!into) throw new HindsightError('E_API_BAD_REQUEST', 'into is required');
        const origin = textField(bodyOf(c).origin);
        if (origin !== undefined && origin !== 'divergence' && origin !== 'after-promote') {
          throw new HindsightError('E_API_BAD_REQUEST', 'origin is divergence or after-promote');
        }
        return node.roles.exportDivergence(c.params.name, into, origin);
      },
    },
  ];
}
