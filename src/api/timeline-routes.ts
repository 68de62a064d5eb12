import { HindsightError, parseDuration } from '../core/index.ts';
import type {
  DiscardAnswer,
  ListAnswer,
  MaterializedAnswer,
  RewindAnswer,
  TimelineAnswer,
  ViewInfo,
} from './answers.ts';
import type { NodeApi } from './node-api.ts';
import { bodyOf, momentField, textField, viewField } from './request-fields.ts';
import { BinaryAnswer, type Route } from './router.ts';

/** timelineRoutes are the funnel and the past of a mirrored volume (docs/api.md, "Timeline"). */
export function timelineRoutes(node: NodeApi): Route[] {
  const moment = (text: unknown, what: string) => momentField(text, what, node.now());
  return [
    {
      method: 'POST',
      path: '/v1/volumes/:name/hold',
      handler: (c): { views: ViewInfo[] } => ({ views: node.funnel.hold(c.params.name, viewField(c)) }),
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/resume',
      handler: (c): { views: ViewInfo[] } => ({ views: node.funnel.resume(c.params.name, viewField(c)) }),
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/delay',
      handler: (c): { views: ViewInfo[] } => {
        // A duration text ("30m") or a number of ms.
        const delay = bodyOf(c).delay;
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
        return { views: node.funnel.setDelay(c.params.name, ms, viewField(c)) };
      },
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/rewind',
      handler: (c): Promise<RewindAnswer> =>
        node.funnel.rewind(c.params.name, moment(bodyOf(c).to, 'to'), viewField(c)),
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/discard',
      handler: (c): Promise<DiscardAnswer> =>
        node.funnel.discard(c.params.name, moment(bodyOf(c).after, 'after')),
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/preview',
      handler: (c): Promise<MaterializedAnswer> => {
        const into = textField(bodyOf(c).into);
        if (!into) throw new HindsightError('E_API_BAD_REQUEST', 'into is required');
        return node.past.preview(c.params.name, moment(bodyOf(c).at, 'at'), into);
      },
    },
    {
      method: 'POST',
      path: '/v1/volumes/:name/restore',
      handler: (c): Promise<MaterializedAnswer> => {
        const { path, into } = { path: textField(bodyOf(c).path), into: textField(bodyOf(c).into) };
        if (!path || !into) throw new HindsightError('E_API_BAD_REQUEST', 'path and into are required');
        return node.past.restore(c.params.name, path, moment(bodyOf(c).at, 'at'), into);
      },
    },
    {
      method: 'GET',
      path: '/v1/volumes/:name/timeline',
      handler: ({ params, query }): TimelineAnswer => {
        const since = query.get('since') ? moment(query.get('since'), 'since') : 0;
        const until = query.get('until') ? moment(query.get('until'), 'until') : node.now();
        return node.past.timeline(params.name, since, until, query.get('path') ?? undefined);
      },
    },
    {
      method: 'GET',
      path: '/v1/volumes/:name/ls',
      handler: ({ params, query }): ListAnswer =>
        node.past.list(params.name, moment(query.get('at'), 'at'), query.get('path') ?? ''),
    },
    {
      method: 'GET',
      path: '/v1/volumes/:name/cat',
      handler: ({ params, query }) => {
        const file = node.past.read(params.name, moment(query.get('at'), 'at'), query.get('path') ?? '');
        return new BinaryAnswer(file.size, file.chunks);
      },
    },
  ];
}
