import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';

/** ReceivedMail is one message the receiver took, parsed enough for tests. */
export interface ReceivedMail {
  /** The envelope: MAIL FROM and RCPT TO. */
  from: string;
  to: string[];
  /** Whether the session was TLS (STARTTLS) when the message came. */
  isSecure: boolean;
  /** The user that logged in, if any. */
  user: string | null;
  headers: Map<string, string>;
  subject: string;
  text: string;
  attachments: { filename: string; contentType: string; content: string }[];
  raw: string;
}

/** SmtpReceiverOptions: the login it accepts (none: no AUTH needed). */
export interface SmtpReceiverOptions {
  user?: string;
  password?: string;
}

/**
 * SmtpReceiver is a real SMTP server (the `smtp-server` package) on 127.0.0.1 and a free port:
 * STARTTLS with a self-signed certificate made for the test (`caFile` is its PEM, to trust),
 * AUTH PLAIN and LOGIN only after STARTTLS, and every message kept, parsed, in `mails`.
 * Failed logins are counted, so a test can see retries arrive.
 */
export class SmtpReceiver {
  readonly mails: ReceivedMail[] = [];
  /** Logins refused (wrong user or password). */
  authFailures = 0;
  readonly caFile: string;
  readonly #dir: string;
  readonly #server: SMTPServer;
  #port = 0;

  private constructor(options: SmtpReceiverOptions) {
    this.#dir = mkdtempSync(path.join(os.tmpdir(), 'hindsight-smtp-'));
    const keyFile = path.join(this.#dir, 'key.pem');
    this.caFile = path.join(this.#dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        this.caFile,
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
    const isAuth = options.user !== undefined;
    this.#server = new SMTPServer({
      key: readFileSync(keyFile),
      cert: readFileSync(this.caFile),
      logger: false,
      authMethods: ['PLAIN', 'LOGIN'],
      authOptional: !isAuth,
      disabledCommands: isAuth ? [] : ['AUTH'],
      onAuth: (auth, _session, done) => {
        if (auth.username === options.user && auth.password === options.password) {
          done(null, { user: auth.username });
        } else {
          this.authFailures++;
          done(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
        }
      },
      onData: (stream, session, done) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          this.mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            isSecure: session.secure,
            user: typeof session.user === 'string' ? session.user : null,
            ...parseMail(raw),
            raw,
          });
          done();
        });
      },
    });
  }

  /** start starts a receiver and waits until it listens. */
  static async start(options: SmtpReceiverOptions = {}): Promise<SmtpReceiver> {
    const r = new SmtpReceiver(options);
    await new Promise<void>((resolve, reject) => {
      r.#server.once('error', reject);
      r.#server.listen(0, '127.0.0.1', () => resolve());
    });
    r.#port = (r.#server.server.address() as AddressInfo).port;
    return r;
  }

  get port(): number {
    return this.#port;
  }

  /** url is the notifier URL for this receiver. */
  get url(): string {
    return `smtp://127.0.0.1:${this.#port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

type ParsedPart = Pick<ReceivedMail, 'headers' | 'subject' | 'text' | 'attachments'>;

/**
 * parseMail reads what nodemailer writes: headers (folded, RFC 2047 words), multipart bodies,
 * base64 and quoted-printable parts. Enough for tests, not a general MIME parser.
 */
export function parseMail(raw: string): ParsedPart {
  const { headers, body } = splitPart(raw);
  const out: ParsedPart = {
    headers,
    subject: decodeWords(headers.get('subject') ?? ''),
    text: '',
    attachments: [],
  };
  collect(headers, body, out);
  return out;
}

function collect(headers: Map<string, string>, body: string, out: ParsedPart): void {
  const type = headers.get('content-type') ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (/^multipart\//i.test(type) && boundary) {
    const parts = body.split(`--${boundary}`).slice(1);
    for (const part of parts) {
      if (part.startsWith('--')) break;
      const p = splitPart(part.replace(/^\r?\n/, ''));
      collect(p.headers, p.body, out);
    }
    return;
  }
  const content = decodeBody(body, headers.get('content-transfer-encoding') ?? '7bit');
  const disposition = headers.get('content-disposition') ?? '';
  const filename = /filename="?([^";]+)"?/i.exec(disposition)?.[1] ?? /name="?([^";]+)"?/i.exec(type)?.[1];
  if (/attachment/i.test(disposition) || filename) {
    out.attachments.push({ filename: filename ?? '', contentType: type, content });
  } else if (/^text\/plain/i.test(type)) {
    out.text += content;
  }
}

function splitPart(raw: string): { headers: Map<string, string>; body: string } {
  const at = raw.search(/\r?\n\r?\n/);
  const head = at < 0 ? raw : raw.slice(0, at);
  const body = at < 0 ? '' : raw.slice(at).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function decodeBody(body: string, encoding: string): string {
  const e = encoding.toLowerCase();
  // Line endings as a reader sees them: SMTP carries CRLF.
  if (e === 'base64')
    return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8').replace(/\r\n/g, '\n');
  if (e === 'quoted-printable') return decodeQuotedPrintable(body).replace(/\r\n/g, '\n');
  return body.replace(/\r\n/g, '\n');
}

function decodeQuotedPrintable(text: string): string {
  const soft = text.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    if (soft[i] === '=' && /^[0-9A-F]{2}$/i.test(soft.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(soft[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function decodeWords(text: string): string {
  return text
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([bq])\?([^?]*)\?=/gi, (_m, _charset: string, kind: string, data: string) =>
      kind.toLowerCase() === 'b'
        ? Buffer.from(data, 'base64').toString('utf8')
        : decodeQuotedPrintable(data.replace(/_/g, ' ')),
    );
}
