import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { HindsightError, isValidName } from '../core/index.ts';

/** JOIN_TOKEN_PREFIX starts every join token and names its version, so a future format can be told apart. */
export const JOIN_TOKEN_PREFIX = 'hs1-';
/** JOIN_SECRET_BYTES is the size of the one-time secret a join token carries. */
export const JOIN_SECRET_BYTES = 32;

// Far larger than any real token; refuses pasted garbage before decoding it.
const MAX_TOKEN_CHARS = 4096;
const FINGERPRINT = /^[0-9a-f]{64}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * JoinToken is what `hindsight invite` prints and `hindsight join` reads: where to reach the
 * inviter, which CA to trust (by fingerprint), a one-time secret, who invited, and until when.
 */
export interface JoinToken {
  /** The inviter's peer listener, "host:port" ("[v6]:port" for IPv6). */
  address: string;
  /** SHA-256 fingerprint of the cluster CA certificate, 64 lower-case hex digits. */
  caFingerprint: string;
  /** The one-time secret, base64url of JOIN_SECRET_BYTES random bytes. */
  secret: string;
  /** The inviting node's name. */
  inviter: string;
  /** Wall-clock milliseconds after which the inviter refuses the token. */
  expiresAt: number;
}

/** newJoinSecret returns a fresh one-time secret for a join token. */
export function newJoinSecret(): string {
  return randomBytes(JOIN_SECRET_BYTES).toString('base64url');
}

/** hashSecret returns the SHA-256 hex of a join secret: what the inviter stores instead of the secret itself. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** secretMatches compares a presented secret with a stored hash in constant time. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}

/** encodeJoinToken renders a token as `hs1-` + base64url(JSON); it checks the fields first so no bad token is printed. */
export function encodeJoinToken(token: JoinToken): string {
  checkFields({
    a: token.address,
    f: token.caFingerprint,
    s: token.secret,
    n: token.inviter,
    e: token.expiresAt,
  });
  const json = JSON.stringify({
    a: token.address,
    f: token.caFingerprint,
    s: token.secret,
    n: token.inviter,
    e: token.expiresAt,
  });
  return JOIN_TOKEN_PREFIX + Buffer.from(json, 'utf8').toString('base64url');
}

/**
 * decodeJoinToken parses and validates a token; every field is checked, and a malformed one throws
 * E_JOIN_TOKEN_INVALID naming what is wrong. With `now`, an expired token throws E_JOIN_TOKEN_EXPIRED.
 */
export function decodeJoinToken(text: string, now?: number): JoinToken {
  const trimmed = text.trim();
  if (trimmed.length > MAX_TOKEN_CHARS) throw invalid('it is too long');
  if (!trimmed.startsWith(JOIN_TOKEN_PREFIX)) throw invalid(`it does not start with "${JOIN_TOKEN_PREFIX}"`);
  const payload = trimmed.slice(JOIN_TOKEN_PREFIX.length);
  if (!BASE64URL.test(payload)) throw invalid('it is not base64url text');
  let fields: unknown;
  try {
    fields = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch (err) {
    throw invalid('its content is not JSON (was it copied completely?)', err);
  }
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields))
    throw invalid('its content is not an object');
  const f = fields as Record<string, unknown>;
  checkFields(f);
  const token: JoinToken = {
    address: f.a as string,
    caFingerprint: f.f as string,
    secret: f.s as string,
    inviter: f.n as string,
    expiresAt: f.e as number,
  };
  if (now !== undefined && now > token.expiresAt) {
    throw new HindsightError(
      'E_JOIN_TOKEN_EXPIRED',
      `the join token expired at ${new Date(token.expiresAt).toISOString()}`,
      {
        hint: `run 'hindsight invite' again on ${token.inviter}`,
      },
    );
  }
  return token;
}

/** splitAddress parses "host:port" or "[v6]:port" into its parts; throws E_JOIN_TOKEN_INVALID when malformed. */
export function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) throw invalid(`address "${address}" is not host:port`);
  let host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  const port = Number(portText);
  if (!/^[0-9]{1,5}$/.test(portText) || port < 1 || port > 65535)
    throw invalid(`address "${address}" has no valid port`);
  if (host.startsWith('[') && host.endsWith(']')) {
    host = host.slice(1, -1);
    if (!/^[0-9a-fA-F:.]+$/.test(host)) throw invalid(`address "${address}" has no valid IPv6 host`);
  } else if (!/^[A-Za-z0-9.-]{1,253}$/.test(host)) {
    throw invalid(`address "${address}" has no valid host (write IPv6 hosts as [addr]:port)`);
  }
  return { host, port };
}

function checkFields(f: Record<string, unknown>): void {
  if (typeof f.a !== 'string') throw invalid('the address (a) is missing');
  splitAddress(f.a);
  if (typeof f.f !== 'string' || !FINGERPRINT.test(f.f))
    throw invalid('the CA fingerprint (f) is not 64 hex digits');
  // Re-encoding must give the same text: the lenient base64 decoder would otherwise accept look-alikes.
  const secret = typeof f.s === 'string' ? Buffer.from(f.s, 'base64url') : undefined;
  if (secret === undefined || secret.length !== JOIN_SECRET_BYTES || secret.toString('base64url') !== f.s) {
    throw invalid(`the secret (s) is not ${JOIN_SECRET_BYTES} bytes of base64url`);
  }
  if (!isValidName(f.n)) throw invalid('the inviter name (n) is not a valid node name');
  if (typeof f.e !== 'number' || !Number.isSafeInteger(f.e) || f.e <= 0)
    throw invalid('the expiry (e) is not a time');
}

function invalid(why: string, cause?: unknown): HindsightError {
  return new HindsightError('E_JOIN_TOKEN_INVALID', `the join token is not valid: ${why}`, {
    hint: "copy the whole token printed by 'hindsight invite', or run invite again",
    cause,
  });
}
