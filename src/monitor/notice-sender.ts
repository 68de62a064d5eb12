/**
 * NoticeMessage is one message as composed when the notice was queued: the same words go out on
 * the first attempt and the eighth. The mail uses subject, text and protocol; the webhook posts
 * the payload (with subject and text in it, so a chat that shows `text` needs no adapter).
 */
export interface NoticeMessage {
  kind: 'alarm' | 'run' | 'digest' | 'test';
  subject: string;
  /** The plain-text body. */
  text: string;
  /** protocol.txt, one event per line, when the notifier attaches it; otherwise null. */
  protocol: string | null;
  /** The webhook body without `id` and `sentAt`, which each delivery adds. */
  payload: Record<string, unknown>;
}

/** Delivery names one attempt to deliver a queued notice. */
export interface Delivery {
  /** The notice's id in the outbox: the same on every attempt, so a receiver can drop repeats. */
  id: number;
  /** When this attempt was made (the Clock's wall time). */
  sentAt: number;
  /** The node that sends. */
  node: string;
}

/**
 * NoticeSender delivers messages of one notifier (SMTP, webhook).
 *
 * Contract:
 * - `send` resolves once the receiver accepted the message (the SMTP server took it for at
 *   least one recipient; the webhook answered 2xx), and rejects otherwise with an Error whose
 *   message says why for people (it is kept as the notice's last error; never a secret in it).
 * - It settles within its timeout: a silent server is a failure, never a hang.
 * - It is not idempotent: a send that fails after the receiver took the message (a lost reply)
 *   is sent again on retry. Each attempt carries the same `Delivery.id` (the mail's Message-ID,
 *   the webhook's X-Hindsight-Delivery) so that receivers can drop the repeat.
 * - Every failure is treated as passing: the caller retries with backoff. A wrong password may
 *   be mended by editing the credentials file, which is read again at each send.
 */
export interface NoticeSender {
  send(message: NoticeMessage, delivery: Delivery): Promise<void>;
}
