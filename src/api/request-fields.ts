import { HindsightError, parseMoment } from '../core/index.ts';

/**
 * Reading the fields of a request: each helper names the field it refuses, so a bad request
 * gets an answer that says what to send instead.
 */

/** bodyOf returns a request body as an object ({} when there is none). */
export function bodyOf(ctx: { body: unknown }): Record<string, unknown> {
  return (ctx.body ?? {}) as Record<string, unknown>;
}

/** momentField reads a required moment ("10 minutes ago", an ISO time, epoch ms) against `now`. */
export function momentField(text: unknown, what: string, now: number): number {
  if (typeof text !== 'string' || text === '') {
    throw new HindsightError('E_API_BAD_REQUEST', `${what} is required`, {
      hint: 'e.g. "10 minutes ago" or 2026-11-22T14:03',
    });
  }
  return parseMoment(text, now);
}

/** textField returns a non-empty string field, or undefined. */
export function textField(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** viewField reads the optional `view` of a body: a view name, or undefined for every view. */
export function viewField(ctx: { body: unknown }): string | undefined {
  const v = bodyOf(ctx).view;
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new HindsightError('E_API_BAD_REQUEST', 'view must be a view name');
  return v;
}
