import { readFile } from 'node:fs/promises';
import { HindsightError } from '../core/index.ts';

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
    throw credentialsError(`cannot read the credentials file ${path}: ${(err as NodeJS.ErrnoException).code}`, err);
  }
  return parseS3Credentials(text, path);
}

function credentialsError(message: string, cause?: unknown): HindsightError {
  return new HindsightError('E_TIER_CREDENTIALS', message, {
    hint: 'an s3:// tier reads its keys from a credentials file of KEY=VALUE lines: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for temporary keys, AWS_SESSION_TOKEN',
    cause,
  });
}
