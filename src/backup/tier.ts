import { HindsightError } from '../core/index.ts';

/**
 * Tier is one place that holds a repository (docs/backup-format.md): a directory, an SFTP
 * server, an S3 bucket. Objects are only ever added: `put` never overwrites, and `delete` is
 * for `prune` alone, so a tier may be served by an account that cannot delete (append-only).
 * Every method fails with E_TIER_OFFLINE when the tier cannot be reached, so that the two-tier
 * rules can tell "offline" from "damaged".
 */
export interface Tier {
  /** The tier's location without credentials, as `tier list` shows it. */
  readonly url: string;
  /** check resolves when the tier is reachable and is the place it was set up as; else E_TIER_OFFLINE. */
  check(): Promise<void>;
  /**
   * put stores `bytes` as `name`, durably; an object already of that name is left as it is. It
   * must be done with `bytes` once it settles, failed or not: backups fill the buffer again.
   */
  put(name: string, bytes: Uint8Array): Promise<void>;
  /** get returns the object `name`, or its `length` bytes from `offset`; E_TIER_MISSING when it is not there. */
  get(name: string, range?: { offset: number; length: number }): Promise<Buffer>;
  exists(name: string): Promise<boolean>;
  /** list yields the names that start with `prefix`, in no particular order. */
  list(prefix: string): AsyncIterable<string>;
  /** delete removes `name` (prune only); a name already gone is not an error. */
  delete(name: string): Promise<void>;
}

/** TIER_MARKER is the object (or file) `tier add` writes at the top of every tier, holding the tier's id. */
export const TIER_MARKER = '.hindsight-tier';
/** ANY_TIER is the tier id of a tier opened from elsewhere (a restore on a bare machine): any marker will do. */
export const ANY_TIER = '*';

/** tierOffline is the error of a tier that cannot be reached; `why` says what to check. */
export function tierOffline(url: string, why: string, cause?: unknown): HindsightError {
  return new HindsightError('E_TIER_OFFLINE', `tier ${url} is offline: ${why}`, { cause });
}

/** tierMissing is the error of an object that a tier does not hold. */
export function tierMissing(url: string, name: string): HindsightError {
  return new HindsightError('E_TIER_MISSING', `tier ${url} has no object ${name}`, {
    hint: 'run hindsight backup verify to see what else is missing',
  });
}

/** OBJECT_NAME is what an object name may look like: lower-case hex and a few fixed words, `/`-separated. */
const OBJECT_NAME = /^[a-z0-9][a-z0-9.-]*(\/[a-z0-9][a-z0-9.-]*)*$/;

/** checkObjectName refuses a name that could leave the repository (`..`, `/x`, odd bytes). */
export function checkObjectName(name: string): void {
  if (!OBJECT_NAME.test(name) || name.split('/').some((part) => part === '..' || part === '.')) {
    throw new HindsightError('E_TIER_NAME', `not a repository object name: ${JSON.stringify(name)}`);
  }
}
