import { createHmac } from 'node:crypto';
import { errorMessage } from '../core/index.ts';
import type { Delivery, NoticeMessage, NoticeSender } from './notice-sender.ts';
import { readSecret, type WebhookSettings } from './notifier-settings.ts';

/** DEFAULT_WEBHOOK_TIMEOUT_MS bounds one POST, from connecting to the end of the answer. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;

/** SIGNATURE_HEADER carries `sha256=<hex HMAC-SHA256 of the raw body>` when a secret file is set. */
export const SIGNATURE_HEADER = 'X-Hindsight-Signature';
/** DELIVERY_HEADER carries the notice's id, the same on every attempt. */
export const DELIVERY_HEADER = 'X-Hindsight-Delivery';

/**
 * WebhookSender delivers notices as a JSON POST (NoticeSender's contract): the body is the
 * message's payload with `id` and `sentAt`; a 2xx answer is delivery, anything else a failure
 * whose status and first words of the answer become the error. The key is read at each send;
 * redirects are refused (a signed body must not be replayed to wherever a 30x points).
 *
 * The timeout is AbortSignal.timeout, real time: it bounds a network wait, which a test clock
 * must not shorten.
 */
export class WebhookSender implements NoticeSender {
  readonly #settings: WebhookSettings;
  readonly #timeoutMs: number;

  constructor(settings: WebhookSettings, options: { timeoutMs?: number } = {}) {
    this.#settings = settings;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  }

  async send(message: NoticeMessage, delivery: Delivery): Promise<void> {
    const s = this.#settings;
    const body = JSON.stringify({ ...message.payload, sentAt: delivery.sentAt, id: delivery.id });
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'hindsight',
      [DELIVERY_HEADER]: String(delivery.id),
    };
    if (s.secretFile !== null) headers[SIGNATURE_HEADER] = signBody(readSecret(s.secretFile), body);
    let answer: Response;
    try {
      answer = await fetch(s.url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new Error(`POST ${s.url}: ${fetchReason(err, this.#timeoutMs)}`, { cause: err });
    }
    const text = await answer.text().catch(() => '');
    if (answer.status < 200 || answer.status > 299) {
      const words = text.replace(/\s+/g, ' ').trim().slice(0, 200);
      throw new Error(`POST ${s.url}: HTTP ${answer.status}${words ? `: ${words}` : ''}`);
    }
  }
}

/** signBody returns the signature header's value for `body`: `sha256=` and the hex HMAC-SHA256. */
export function signBody(key: Buffer, body: string): string {
  return `sha256=${createHmac('sha256', key).update(body, 'utf8').digest('hex')}`;
}

function fetchReason(err: unknown, timeoutMs: number): string {
  if ((err as Error).name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `${cause.message ?? errorMessage(err)} (${cause.code})`;
  return errorMessage(err);
}
