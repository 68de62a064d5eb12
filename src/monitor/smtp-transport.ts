import { createTransport } from 'nodemailer';
import { errorMessage } from '../core/index.ts';
import type { Delivery, NoticeMessage, NoticeSender } from './notice-sender.ts';
import { readCa, readSmtpCredentials, type SmtpSettings } from './notifier-settings.ts';

/** DEFAULT_SMTP_TIMEOUT_MS bounds each step of a mail delivery: connect, greeting, every reply. */
export const DEFAULT_SMTP_TIMEOUT_MS = 10_000;

/**
 * SmtpSender delivers notices as plain-text mail through one SMTP server (NoticeSender's
 * contract). It opens a connection per message — notices are rare, and a connection kept open
 * would only go stale — and reads the credentials and CA files at each send, so a changed
 * password takes effect without a command. With credentials it requires TLS (implicit or
 * STARTTLS): a password never crosses the network in clear.
 *
 * The timeouts are nodemailer's own socket timers, not the Clock's: they bound real network
 * waits, which a test clock must not shorten.
 */
export class SmtpSender implements NoticeSender {
  readonly #settings: SmtpSettings;
  readonly #timeoutMs: number;

  constructor(settings: SmtpSettings, options: { timeoutMs?: number } = {}) {
    this.#settings = settings;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_SMTP_TIMEOUT_MS;
  }

  async send(message: NoticeMessage, delivery: Delivery): Promise<void> {
    const s = this.#settings;
    const login = s.credentials === null ? undefined : readSmtpCredentials(s.credentials);
    const transport = createTransport({
      host: s.host,
      port: s.port,
      secure: s.isImplicitTls,
      requireTLS: s.isTlsRequired,
      ...(login ? { auth: { user: login.user, pass: login.password } } : {}),
      tls: s.ca === null ? {} : { ca: readCa(s.ca) },
      connectionTimeout: this.#timeoutMs,
      greetingTimeout: this.#timeoutMs,
      socketTimeout: this.#timeoutMs,
    });
    try {
      const info = await transport.sendMail({
        from: s.from,
        to: s.to,
        subject: message.subject,
        text: message.text,
        // One id for every attempt of one notice: a mail client shows a repeat once.
        messageId: `<notice-${delivery.id}.${delivery.node}@hindsight>`,
        headers: { 'X-Hindsight-Delivery': String(delivery.id) },
        attachments:
          message.protocol === null
            ? []
            : [
                {
                  filename: 'protocol.txt',
                  content: message.protocol,
                  contentType: 'text/plain; charset=utf-8',
                },
              ],
      });
      if (info.accepted.length === 0)
        throw new Error(`no recipient accepted (rejected: ${info.rejected.join(', ')})`);
    } catch (err) {
      throw new Error(`mail via ${s.host}:${s.port}: ${smtpReason(err)}`, { cause: err });
    } finally {
      transport.close();
    }
  }
}

function smtpReason(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const text = errorMessage(err).replace(/\s+/g, ' ').trim();
  if (code === 'EAUTH') return `the server refused the login (${text}); check the credentials file`;
  return typeof code === 'string' && !text.includes(code) ? `${text} (${code})` : text;
}
