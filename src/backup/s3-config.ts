/**
 * What an `s3://` tier is set up with: its URL, which is shown and logged and so holds no
 * secret, and its credentials file, which holds the keys.
 */
import { readFile } from 'node:fs/promises';
import { HindsightError } from '../core/index.ts';

/** DEFAULT_REGION is the region signed for when the URL names none; S3-compatible servers mostly ignore it. */
const DEFAULT_REGION = 'us-east-1';

/** S3Location is an `s3://` tier URL taken apart. */
export interface S3Location {
  bucket: string;
  /** The key prefix of the tier in the bucket, without slashes at either end; '' for the whole bucket. */
  prefix: string;
  /** An S3-compatible server (`https://host:port`); undefined for AWS. */
  endpoint: string | undefined;
  region: string;
  /** The URL as `tier list` shows it. */
  url: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION = /^[a-z0-9-]+$/;

/**
 * parseS3Url reads `s3://BUCKET/PREFIX?endpoint=https://host:port&region=eu-1`. Keys never come
 * from the URL, which is shown and logged: a URL with a user or password is refused.
 */
export function parseS3Url(url: string): S3Location {
  const refuse = (why: string, hint = 'e.g. s3://bucket/prefix?endpoint=https://host:9000&region=eu-1') =>
    new HindsightError('E_TIER_URL', `not an s3:// tier URL: ${why}`, { hint });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not echoed: what does not parse may still hold a secret.
    throw refuse('it does not parse as a URL');
  }
  if (parsed.protocol !== 's3:') throw refuse(`${parsed.protocol} is not s3:`);
  if (parsed.username !== '' || parsed.password !== '') {
    throw refuse('it holds credentials', 'put the keys in the tier’s credentials file, never in its URL');
  }
  const bucket = parsed.hostname;
  if (!BUCKET.test(bucket) || parsed.port !== '')
    throw refuse(`${JSON.stringify(parsed.host)} is not a bucket name`);
  let prefix: string;
  try {
    prefix = decodeURIComponent(parsed.pathname).replace(/^\/+|\/+$/g, '');
  } catch {
    throw refuse(`${parsed.pathname} is not a key prefix`);
  }
  if (prefix !== '' && prefix.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw refuse(`${JSON.stringify(prefix)} is not a key prefix`);
  }
  for (const key of parsed.searchParams.keys()) {
    if (key !== 'endpoint' && key !== 'region') throw refuse(`unknown option ${key}`);
  }
  const endpoint = parsed.searchParams.get('endpoint') ?? undefined;
  if (endpoint !== undefined) {
    const ep = URL.parse(endpoint);
    if (
      !ep ||
      (ep.protocol !== 'https:' && ep.protocol !== 'http:') ||
      ep.username !== '' ||
      ep.password !== ''
    )
      throw refuse(`endpoint ${JSON.stringify(endpoint)} is not an http(s):// address without credentials`);
  }
  const givenRegion = parsed.searchParams.get('region') ?? undefined;
  if (givenRegion !== undefined && !REGION.test(givenRegion)) throw refuse(`${givenRegion} is not a region`);
  const options = [
    ...(endpoint === undefined ? [] : [`endpoint=${endpoint}`]),
    ...(givenRegion === undefined ? [] : [`region=${givenRegion}`]),
  ];
  const shown = `s3://${bucket}${prefix === '' ? '' : `/${prefix}`}${options.length ? `?${options.join('&')}` : ''}`;
  return { bucket, prefix, endpoint, region: givenRegion ?? DEFAULT_REGION, url: shown };
}

/** S3Credentials are the keys an `s3://` tier signs its requests with. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Only for temporary credentials (STS). */
  sessionToken?: string;
}

/** CREDENTIAL_KEYS maps the keys a credentials file may set to the fields they fill. */
const CREDENTIAL_KEYS = {
  AWS_ACCESS_KEY_ID: 'accessKeyId',
  AWS_SECRET_ACCESS_KEY: 'secretAccessKey',
  AWS_SESSION_TOKEN: 'sessionToken',
} as const;

/**
 * parseS3Credentials reads the text of a credentials file: `KEY=VALUE` lines (the keys of
 * CREDENTIAL_KEYS; blank lines and `#` comments are ignored, other keys too, so the file can be
 * an environment file shared with other tools). `source` names the file in errors. An error
 * names the line or the missing key, never a value: values are secrets.
 */
export function parseS3Credentials(text: string, source: string): S3Credentials {
  const found: Partial<Record<keyof typeof CREDENTIAL_KEYS, string>> = {};
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) {
      throw credentialsError(`${source} line ${i + 1} is not KEY=VALUE`);
    }
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (!Object.hasOwn(CREDENTIAL_KEYS, key)) continue;
    const known = key as keyof typeof CREDENTIAL_KEYS;
    // Two values for one key: whichever we picked, the other was meant by someone.
    if (found[known] !== undefined) throw credentialsError(`${source} sets ${key} twice (line ${i + 1})`);
    if (value === '') throw credentialsError(`${source} line ${i + 1}: ${key} is empty`);
    found[known] = value;
  }
  for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const) {
    if (found[key] === undefined) throw credentialsError(`${source} has no ${key}`);
  }
  return {
    accessKeyId: found.AWS_ACCESS_KEY_ID!,
    secretAccessKey: found.AWS_SECRET_ACCESS_KEY!,
    ...(found.AWS_SESSION_TOKEN === undefined ? {} : { sessionToken: found.AWS_SESSION_TOKEN }),
  };
}

/** readS3Credentials reads and parses the credentials file at `path` (parseS3Credentials). */
export async function readS3Credentials(path: string): Promise<S3Credentials> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw credentialsError(
      `cannot read the credentials file ${path}: ${(err as NodeJS.ErrnoException).code}`,
      err,
    );
  }
  return parseS3Credentials(text, path);
}

function credentialsError(message: string, cause?: unknown): HindsightError {
  return new HindsightError('E_TIER_CREDENTIALS', message, {
    hint: 'an s3:// tier reads its keys from a credentials file of KEY=VALUE lines: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for temporary keys, AWS_SESSION_TOKEN',
    cause,
  });
}
