import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isHindsightError } from '../../../src/core/index.ts';
import {
  decodeJoinToken,
  encodeJoinToken,
  hashSecret,
  type JoinToken,
  newJoinSecret,
  secretMatches,
  splitAddress,
} from '../../../src/link/join-token.ts';

const hasCode = (code: string) => (err: unknown) => isHindsightError(err, code);

function sample(): JoinToken {
  return {
    address: '192.0.2.10:7443',
    caFingerprint: 'ab'.repeat(32),
    secret: newJoinSecret(),
    inviter: 'alpha',
    expiresAt: 1_800_000_000_000,
  };
}

/** Re-encodes a token after changing its JSON: what a careless edit or a forger would produce. */
function reencode(token: string, edit: (fields: Record<string, unknown>) => void): string {
  const fields = JSON.parse(Buffer.from(token.slice(4), 'base64url').toString('utf8'));
  edit(fields);
  return `hs1-${Buffer.from(JSON.stringify(fields)).toString('base64url')}`;
}

describe('join token', () => {
  test('round trip keeps every field', () => {
    const token = sample();
    const text = encodeJoinToken(token);
    assert.match(text, /^hs1-[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeJoinToken(text), token);
    assert.deepEqual(decodeJoinToken(`  ${text}\n`), token, 'surrounding whitespace from a paste is ignored');
  });

  test('IPv6 addresses in brackets are accepted', () => {
    const token = { ...sample(), address: '[::1]:7443' };
    assert.deepEqual(decodeJoinToken(encodeJoinToken(token)), token);
    assert.deepEqual(splitAddress('[fe80::1]:1'), { host: 'fe80::1', port: 1 });
    assert.deepEqual(splitAddress('mirror.example:65535'), { host: 'mirror.example', port: 65535 });
  });

  test('a truncated or altered token is refused with a message naming the problem', () => {
    const text = encodeJoinToken(sample());
    assert.throws(() => decodeJoinToken(text.slice(0, -10)), hasCode('E_JOIN_TOKEN_INVALID'));
    assert.throws(() => decodeJoinToken(`hs2-${text.slice(4)}`), /does not start with "hs1-"/);
    assert.throws(() => decodeJoinToken(`${text}!`), /not base64url/);
    const cases: [(f: Record<string, unknown>) => void, RegExp][] = [
      [(f) => (f.a = 'no-port'), /address/],
      [(f) => (f.a = 'host:70000'), /port/],
      [(f) => (f.a = '::1:80'), /IPv6/],
      [(f) => (f.f = 'AB'.repeat(32)), /fingerprint/],
      [(f) => (f.f = 'ab'.repeat(31)), /fingerprint/],
      [(f) => (f.s = Buffer.alloc(16).toString('base64url')), /secret/],
      [(f) => delete f.s, /secret/],
      [(f) => (f.n = 'Alpha!'), /inviter/],
      [(f) => (f.e = '1800000000000'), /expiry/],
      [(f) => (f.e = 1.5), /expiry/],
    ];
    for (const [edit, message] of cases) {
      const bad = reencode(text, edit);
      assert.throws(
        () => decodeJoinToken(bad),
        (err) => isHindsightError(err, 'E_JOIN_TOKEN_INVALID') && message.test(err.message),
        String(edit),
      );
    }
  });

  test('a non-canonical secret (look-alike base64) is refused', () => {
    const token = sample();
    const text = encodeJoinToken(token);
    // 43 chars encode 32 bytes with 2 spare bits; setting them gives the same bytes from other text.
    const last = token.secret.at(-1) as string;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const lookAlike = token.secret.slice(0, -1) + alphabet[(alphabet.indexOf(last) & ~3) | 1];
    assert.deepEqual(Buffer.from(lookAlike, 'base64url'), Buffer.from(token.secret, 'base64url'));
    assert.throws(
      () => decodeJoinToken(reencode(text, (f) => (f.s = lookAlike))),
      hasCode('E_JOIN_TOKEN_INVALID'),
    );
  });

  test('encode refuses to print a token with a bad field', () => {
    assert.throws(() => encodeJoinToken({ ...sample(), inviter: '' }), hasCode('E_JOIN_TOKEN_INVALID'));
  });

  test('an expired token is refused when the time is given', () => {
    const token = sample();
    const text = encodeJoinToken(token);
    assert.deepEqual(decodeJoinToken(text, token.expiresAt), token);
    assert.throws(() => decodeJoinToken(text, token.expiresAt + 1), hasCode('E_JOIN_TOKEN_EXPIRED'));
  });

  test('the stored hash matches only the original secret', () => {
    const secret = newJoinSecret();
    const stored = hashSecret(secret);
    assert.match(stored, /^[0-9a-f]{64}$/);
    assert.ok(secretMatches(secret, stored));
    assert.ok(!secretMatches(newJoinSecret(), stored));
    const flipped = (secret[0] === 'A' ? 'B' : 'A') + secret.slice(1);
    assert.ok(!secretMatches(flipped, stored));
    assert.ok(!secretMatches(secret, 'not-hex'));
  });
});
