import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { HindsightError } from '../core/index.ts';

/**
 * The settings of a notifier: what `notify add` accepts, how it is checked, and what the catalog
 * keeps. Secrets (the SMTP password, the webhook key) stay in files the administrator owns; only
 * their paths are kept, and they are read at each send, so a changed password needs no command.
 */

/** NoticePolicy says which notices a notifier passes on: every one, failures only, or a daily digest. */
export type NoticePolicy = 'always' | 'failures' | 'digest';

/** NOTICE_POLICIES lists the policies, for checks and help texts. */
export const NOTICE_POLICIES: readonly NoticePolicy[] = ['always', 'failures', 'digest'];

/** NotifierKind is how a notifier delivers: e-mail over SMTP, or a JSON POST. */
export type NotifierKind = 'smtp' | 'webhook';

/** NotifierInput is what `hindsight notify add` hands in; exactly one of `smtp` and `webhook`. */
export interface NotifierInput {
  /** smtp://host[:port] (STARTTLS, port 587 by default) or smtps://host[:port] (TLS, 465); `?starttls=required` allowed. */
  smtp?: string;
  from?: string;
  to?: string[];
  /** Absolute path of a file with `user=…` and `password=…` lines, read at each send. */
  credentials?: string;
  /** Absolute path of a PEM CA certificate to trust for the mail server (a private CA). */
  ca?: string;
  /** http:// or https:// URL that receives a JSON POST. */
  webhook?: string;
  /** Absolute path of a file whose content is the HMAC-SHA256 key that signs each webhook body. */
  secretFile?: string;
  policy: NoticePolicy;
  /** Attach the protocol of the run (protocol.txt) to each mail. */
  attachProtocol?: boolean;
}

/** SmtpSettings is what the catalog keeps of a mail notifier (no secret, only the paths of files). */
export interface SmtpSettings {
  kind: 'smtp';
  /** The URL as given, for people. */
  url: string;
  host: string;
  port: number;
  /** smtps: TLS from the first byte; otherwise STARTTLS. */
  isImplicitTls: boolean;
  /** Refuse to send without STARTTLS (always so with credentials: a password never goes in clear). */
  isTlsRequired: boolean;
  from: string;
  to: string[];
  credentials: string | null;
  ca: string | null;
  attachProtocol: boolean;
}

/** WebhookSettings is what the catalog keeps of a webhook notifier. */
export interface WebhookSettings {
  kind: 'webhook';
  url: string;
  secretFile: string | null;
  attachProtocol: boolean;
}

/** NotifierSettings is one notifier's delivery settings, by kind. */
export type NotifierSettings = SmtpSettings | WebhookSettings;

/** NotifierInfo is one notifier as `notify list` shows it. */
export interface NotifierInfo {
  name: string;
  kind: NotifierKind;
  policy: NoticePolicy;
  /** Where it delivers: the SMTP or webhook URL. */
  target: string;
  /** The recipients of a mail notifier; empty for a webhook. */
  to: string[];
  attachProtocol: boolean;
  /** Notices waiting or being retried. */
  pending: number;
  /** Notices given up on. */
  failed: number;
  lastSentAt: number | null;
  /** The error of the last failed attempt, if the last attempt failed. */
  lastError: string | null;
}

/** SmtpCredentials is the login read from a credentials file. */
export interface SmtpCredentials {
  user: string;
  password: string;
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i;
const ADDRESS = /^[^\s@<>,;"]+@[^\s@<>,;"]+$/;

/**
 * checkNotifier validates `notify add NAME …` and returns the settings to keep. Every file named
 * is read once here, so a wrong path or a malformed file is said now rather than at the first
 * failure; the secrets read are not kept. Throws E_NOTIFY_NAME, E_NOTIFY_INVALID or E_NOTIFY_FILE.
 */
export function checkNotifier(name: string, input: NotifierInput): NotifierSettings {
  if (!NAME.test(name)) {
    throw new HindsightError('E_NOTIFY_NAME', `"${name}" is not a notifier name`, {
      hint: 'use letters, digits, ".", "_" and "-", up to 63 characters, starting with a letter or digit (e.g. admins)',
    });
  }
  if (!NOTICE_POLICIES.includes(input.policy)) {
    throw invalid(`unknown policy "${input.policy}"`, `use --policy ${NOTICE_POLICIES.join('|')}`);
  }
  const isSmtp = input.smtp !== undefined;
  if (isSmtp === (input.webhook !== undefined)) {
    throw invalid(
      'a notifier needs exactly one of --smtp and --webhook',
      'e.g. --smtp smtp://mail.office.lan:587 or --webhook https://chat.office.lan/hooks/abc',
    );
  }
  return isSmtp ? checkSmtp(input) : checkWebhook(input);
}

function checkSmtp(input: NotifierInput): SmtpSettings {
  if (input.secretFile !== undefined) {
    throw invalid(
      '--secret-file signs webhooks; a mail notifier has none',
      'leave it out, or use --credentials',
    );
  }
  let url: URL;
  try {
    url = new URL(input.smtp!);
  } catch {
    throw invalid(`"${input.smtp}" is not a URL`, 'write it as smtp://HOST:587 or smtps://HOST:465');
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
    throw invalid(
      `"${input.smtp}" is not an smtp:// or smtps:// URL`,
      'write it as smtp://HOST:587 or smtps://HOST:465',
    );
  }
  if (url.username || url.password) {
    throw invalid(
      'the SMTP URL holds a user or password',
      'put them in a file (user=…, password=…) and pass --credentials FILE',
    );
  }
  if ((url.pathname !== '' && url.pathname !== '/') || url.hash) {
    throw invalid(`"${input.smtp}" has a path`, 'write it as smtp://HOST:PORT');
  }
  const params = [...url.searchParams.entries()];
  const isStarttlsRequired = params.some(([k, v]) => k === 'starttls' && v === 'required');
  if (params.length > (isStarttlsRequired ? 1 : 0)) {
    throw invalid(
      `"${input.smtp}" has options other than starttls=required`,
      'the only option is ?starttls=required',
    );
  }
  if (!url.hostname) throw invalid(`"${input.smtp}" names no host`, 'write it as smtp://HOST:PORT');
  const isImplicitTls = url.protocol === 'smtps:';
  const from = input.from ?? '';
  if (!ADDRESS.test(from)) {
    throw invalid(
      `"${from}" is not a sender address`,
      'pass --from with a plain address, e.g. hindsight@office.lan',
    );
  }
  const to = input.to ?? [];
  if (to.length === 0)
    throw invalid('a mail notifier needs recipients', 'pass --to a@office.lan,b@office.lan');
  for (const address of to) {
    if (!ADDRESS.test(address)) {
      throw invalid(
        `"${address}" is not a recipient address`,
        'pass --to with plain addresses separated by commas',
      );
    }
  }
  if (new Set(to).size !== to.length) throw invalid('a recipient is listed twice', 'list each address once');
  if (input.credentials !== undefined) readSmtpCredentials(absolute(input.credentials, '--credentials'));
  if (input.ca !== undefined) readCa(absolute(input.ca, '--ca'));
  return {
    kind: 'smtp',
    url: url.href.replace(/\/$/, ''),
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : isImplicitTls ? 465 : 587,
    isImplicitTls,
    isTlsRequired: !isImplicitTls && (isStarttlsRequired || input.credentials !== undefined),
    from,
    to,
    credentials: input.credentials ?? null,
    ca: input.ca ?? null,
    attachProtocol: input.attachProtocol ?? false,
  };
}

function checkWebhook(input: NotifierInput): WebhookSettings {
  for (const [given, flag] of [
    [input.from, '--from'],
    [input.to, '--to'],
    [input.credentials, '--credentials'],
    [input.ca, '--ca'],
  ] as const) {
    if (given !== undefined)
      throw invalid(`${flag} is for mail notifiers`, `leave ${flag} out for a webhook`);
  }
  let url: URL;
  try {
    url = new URL(input.webhook!);
  } catch {
    throw invalid(`"${input.webhook}" is not a URL`, 'write it as https://HOST/PATH');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(`"${input.webhook}" is not an http:// or https:// URL`, 'write it as https://HOST/PATH');
  }
  if (url.username || url.password) {
    throw invalid(
      'the webhook URL holds a user or password',
      'sign the requests instead: --secret-file FILE',
    );
  }
  if (input.secretFile !== undefined) readSecret(absolute(input.secretFile, '--secret-file'));
  return {
    kind: 'webhook',
    url: url.href,
    secretFile: input.secretFile ?? null,
    attachProtocol: input.attachProtocol ?? false,
  };
}

/**
 * readSmtpCredentials reads a credentials file: `user=…` and `password=…` lines (blank lines and
 * `#` comments ignored; the password is everything after the first `=`, spaces included). An
 * error names the file and the line, never a value. Throws E_NOTIFY_FILE.
 */
export function readSmtpCredentials(file: string): SmtpCredentials {
  const found: Partial<SmtpCredentials> = {};
  const lines = readText(file, 'credentials').split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    if (raw.trim() === '' || raw.trim().startsWith('#')) continue;
    const eq = raw.indexOf('=');
    const key = eq > 0 ? raw.slice(0, eq).trim() : '';
    if (key !== 'user' && key !== 'password') {
      throw fileError(`${file} line ${i + 1} is not user=… or password=…`, file);
    }
    // A password may begin or end with a space; only the line ending is not part of it.
    const value = key === 'user' ? raw.slice(eq + 1).trim() : raw.slice(eq + 1);
    if (found[key] !== undefined) throw fileError(`${file} sets ${key} twice (line ${i + 1})`, file);
    if (value === '') throw fileError(`${file} line ${i + 1}: ${key} is empty`, file);
    found[key] = value;
  }
  if (found.user === undefined || found.password === undefined) {
    throw fileError(`${file} needs a user= and a password= line`, file);
  }
  return { user: found.user, password: found.password };
}

/** readSecret reads a webhook signing key: the file's content without its final line ending. Throws E_NOTIFY_FILE. */
export function readSecret(file: string): Buffer {
  const text = readText(file, 'secret').replace(/\r?\n$/, '');
  if (text.length < 16) throw fileError(`${file} holds fewer than 16 characters: too short a key`, file);
  return Buffer.from(text, 'utf8');
}

/** readCa reads a PEM CA file to trust for a mail server. Throws E_NOTIFY_FILE. */
export function readCa(file: string): string {
  const pem = readText(file, 'CA');
  try {
    new X509Certificate(pem);
  } catch {
    throw fileError(`${file} holds no PEM certificate`, file);
  }
  return pem;
}

/** targetOf is where a notifier delivers, for people. */
export function targetOf(settings: NotifierSettings): string {
  return settings.url;
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new HindsightError('E_NOTIFY_FILE', `cannot read the ${what} file ${file} (${code})`, {
      hint: 'the agent reads it at each send: give it a path the agent (root) can read',
      cause: err,
    });
  }
}

function absolute(file: string, flag: string): string {
  if (!path.isAbsolute(file)) {
    throw invalid(
      `${flag} ${file} is not an absolute path`,
      'the agent reads it later, from its own directory: give the full path',
    );
  }
  return file;
}

function invalid(message: string, hint: string): HindsightError {
  return new HindsightError('E_NOTIFY_INVALID', message, { hint });
}

function fileError(message: string, file: string): HindsightError {
  return new HindsightError('E_NOTIFY_FILE', message, {
    hint: `fix ${file}; docs/monitoring.md#notices shows its format`,
  });
}
