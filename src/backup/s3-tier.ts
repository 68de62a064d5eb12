import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { HindsightError } from '../core/index.ts';
import { parseS3Url, type S3Credentials, type S3Location } from './s3-config.ts';
import { ANY_TIER, checkObjectName, TIER_MARKER, type Tier, tierMissing, tierOffline } from './tier.ts';

export { readS3Credentials, type S3Credentials } from './s3-config.ts';

/** DEFAULT_MAX_ATTEMPTS is how often one request is tried before the tier counts as offline (the two-tier rules). */
const DEFAULT_MAX_ATTEMPTS = 10;
/** DEFAULT_CONNECTION_TIMEOUT_MS bounds one attempt's wait for a TCP and TLS connection. */
const DEFAULT_CONNECTION_TIMEOUT_MS = 10_000;
/** DEFAULT_IDLE_TIMEOUT_MS bounds how long a connection may stay silent mid-request: a hung server, not a slow one. */
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** DEFAULT_LIST_PAGE is how many keys one ListObjectsV2 call asks for; S3 gives at most 1000. */
const DEFAULT_LIST_PAGE = 1000;

/** S3TierOptions tune how hard an `s3://` tier tries before it is offline; tests shorten them. */
export interface S3TierOptions {
  /** Attempts per request, the first included (DEFAULT_MAX_ATTEMPTS). */
  maxAttempts?: number;
  /** One attempt's wait for a connection (DEFAULT_CONNECTION_TIMEOUT_MS). */
  connectionTimeoutMs?: number;
  /** How long a connection may stay silent mid-request (DEFAULT_IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number;
  /** Keys per list call (DEFAULT_LIST_PAGE). */
  listPageSize?: number;
}

/**
 * S3Tier keeps a repository under a key prefix of an S3 bucket, on AWS or an S3-compatible
 * server. `create` writes the marker object `PREFIX/.hindsight-tier` with the tier's id.
 *
 * The marker is read by `check`, before the first operation, and again after any failure that
 * made the tier offline: unlike a directory, a bucket has no empty mount point to fill by
 * mistake; what can change under us is the endpoint or the bucket, and only across a failure
 * do we know to look. Reading it before every request would double what a restore costs.
 *
 * `put` never overwrites: it asks whether the object exists first, and sends the write with
 * `If-None-Match: *`. The condition closes the race with a concurrent writer on a server that
 * honours it (AWS since 2024); the question keeps the rule on one that ignores it.
 *
 * Errors: a request that cannot get through after its attempts, is refused (credentials,
 * policy, region), or finds no bucket makes the tier offline, with why; a missing object is
 * E_TIER_MISSING; a refused delete is E_TIER_READ_ONLY (an append-only account).
 */
export class S3Tier implements Tier {
  readonly url: string;
  readonly #location: S3Location;
  readonly #id: string;
  readonly #client: S3Client;
  readonly #listPageSize: number;
  /** Whether the marker was seen since the last failure that made the tier offline. */
  #verified = false;

  constructor(url: string, id: string, credentials: S3Credentials, options: S3TierOptions = {}) {
    this.#location = parseS3Url(url);
    this.url = this.#location.url;
    this.#id = id;
    this.#listPageSize = options.listPageSize ?? DEFAULT_LIST_PAGE;
    const { endpoint, region } = this.#location;
    this.#client = new S3Client({
      region,
      endpoint,
      // A self-hosted server seldom has a DNS name per bucket; AWS wants virtual hosts.
      forcePathStyle: endpoint !== undefined,
      credentials: { ...credentials },
      maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      requestHandler: {
        connectionTimeout: options.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
        socketTimeout: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      },
    });
  }

  /**
   * create sets up a new tier at `url` with id `id`: the bucket must exist (Hindsight never
   * creates one: where it lives, who pays and who may delete are the owner's choices), and the
   * prefix must be empty or already be this tier.
   */
  static async create(
    url: string,
    id: string,
    credentials: S3Credentials,
    options: S3TierOptions = {},
  ): Promise<S3Tier> {
    const tier = new S3Tier(url, id, credentials, options);
    try {
      await tier.#setUp();
    } catch (err) {
      // Its connections would otherwise outlive the error.
      tier.close();
      throw err;
    }
    return tier;
  }

  /** #setUp is create's work: checks the bucket and the prefix, then writes the marker. */
  async #setUp(): Promise<void> {
    const { bucket } = this.#location;
    let existing: string | undefined;
    try {
      existing = await this.#readMarker();
    } catch (err) {
      if (errorName(err) !== 'NoSuchBucket') throw this.#failure('read', TIER_MARKER, err);
      throw new HindsightError(
        'E_TIER_SETUP',
        `cannot use ${this.url} as a tier: bucket ${bucket} does not exist`,
        {
          hint: 'create the bucket first (Hindsight never creates one), then add the tier again',
          cause: err,
        },
      );
    }
    if (existing === this.#id) {
      this.#verified = true;
      return;
    }
    if (existing !== undefined) {
      throw new HindsightError(
        'E_TIER_FOREIGN',
        `${this.url} is already a tier of another repository (${existing})`,
      );
    }
    const names = await this.#call('list', '', () =>
      this.#client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: this.#base(), MaxKeys: 1 })),
    );
    if ((names.KeyCount ?? names.Contents?.length ?? 0) > 0) {
      throw new HindsightError('E_TIER_SETUP', `${this.url} is not empty`, {
        hint: 'give a new or empty prefix; Hindsight does not mix its repository with other objects',
      });
    }
    await this.#putIfAbsent(TIER_MARKER, Buffer.from(`${this.#id}\n`));
    // Another `tier add` may have won the race for the marker: the marker says who.
    const written = await this.#call('read', TIER_MARKER, () => this.#readMarker());
    if (written !== this.#id) {
      throw new HindsightError('E_TIER_FOREIGN', `${this.url} was just set up as another tier (${written})`);
    }
    this.#verified = true;
  }

  async check(): Promise<void> {
    const text = await this.#call('read', TIER_MARKER, () => this.#readMarker());
    if (text === undefined) {
      this.#verified = false;
      throw tierOffline(
        this.url,
        `its marker ${this.#key(TIER_MARKER)} is missing: are the bucket and prefix right?`,
      );
    }
    if (this.#id !== ANY_TIER && text !== this.#id) {
      this.#verified = false;
      throw tierOffline(this.url, `its marker names another tier (${text})`);
    }
    this.#verified = true;
  }

  async put(name: string, bytes: Uint8Array): Promise<void> {
    checkObjectName(name);
    await this.#ready();
    await this.#putIfAbsent(name, bytes);
  }

  async get(name: string, range?: { offset: number; length: number }): Promise<Buffer> {
    checkObjectName(name);
    await this.#ready();
    // `bytes=5-4` is no range at all to S3, which would answer with the whole object.
    if (range?.length === 0) {
      if (!(await this.exists(name))) throw tierMissing(this.url, name);
      return Buffer.alloc(0);
    }
    return this.#call('read', name, async () => {
      try {
        const res = await this.#client.send(
          new GetObjectCommand({
            Bucket: this.#location.bucket,
            Key: this.#key(name),
            Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined,
          }),
        );
        const bytes = await res.Body!.transformToByteArray();
        const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        // A server that ignores Range answers 200 with everything; take the range ourselves.
        if (range && res.ContentRange === undefined)
          return body.subarray(range.offset, range.offset + range.length);
        return body;
      } catch (err) {
        if (errorName(err) === 'NoSuchKey') throw tierMissing(this.url, name);
        // The object is there but shorter than the offset: as reading past the end of a file.
        if (range && statusOf(err) === 416) return Buffer.alloc(0);
        throw err;
      }
    });
  }

  async exists(name: string): Promise<boolean> {
    checkObjectName(name);
    await this.#ready();
    return this.#exists(name);
  }

  async *list(prefix: string): AsyncIterable<string> {
    await this.#ready();
    const base = this.#base();
    let token: string | undefined;
    do {
      const page = await this.#call('list', prefix, () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#location.bucket,
            Prefix: `${base}${prefix}`,
            MaxKeys: this.#listPageSize,
            ContinuationToken: token,
          }),
        ),
      );
      for (const item of page.Contents ?? []) {
        const name = item.Key?.slice(base.length);
        // The marker, and whatever else is no repository object (a console's `folder/`), is not listed.
        if (name !== undefined && isObjectName(name)) yield name;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async delete(name: string): Promise<void> {
    checkObjectName(name);
    await this.#ready();
    try {
      await this.#client.send(
        new DeleteObjectCommand({ Bucket: this.#location.bucket, Key: this.#key(name) }),
      );
    } catch (err) {
      // S3 answers 204 for a key that is not there; some compatible servers say 404.
      if (statusOf(err) === 404 && errorName(err) !== 'NoSuchBucket') return;
      // The marker was readable a moment ago: a refusal now is the account, not the keys.
      if (statusOf(err) === 403) {
        throw new HindsightError('E_TIER_READ_ONLY', `tier ${this.url} refused to delete ${name}`, {
          hint: 'this tier’s credentials may not delete (an append-only tier); run prune with credentials that may',
          cause: err,
        });
      }
      throw this.#failure('delete', name, err);
    }
  }

  /** close ends the tier's connections; the tier is not used after it. */
  close(): void {
    this.#client.destroy();
  }

  async #ready(): Promise<void> {
    if (!this.#verified) await this.check();
  }

  /** #putIfAbsent stores `name` unless it exists (see the class comment for why both ways). */
  async #putIfAbsent(name: string, bytes: Uint8Array): Promise<void> {
    if (await this.#exists(name)) return;
    await this.#call('write', name, async () => {
      try {
        await this.#client.send(
          new PutObjectCommand({
            Bucket: this.#location.bucket,
            Key: this.#key(name),
            Body: bytes,
            ContentLength: bytes.byteLength,
            IfNoneMatch: '*',
          }),
        );
      } catch (err) {
        // 412: written meanwhile by someone else, and an object is never replaced.
        if (statusOf(err) !== 412) throw err;
      }
    });
  }

  async #exists(name: string): Promise<boolean> {
    return this.#call('read', name, async () => {
      try {
        await this.#client.send(
          new HeadObjectCommand({ Bucket: this.#location.bucket, Key: this.#key(name) }),
        );
        return true;
      } catch (err) {
        // HEAD has no body, so a missing bucket is a 404 too; the next GET or PUT names it.
        if (statusOf(err) === 404) return false;
        throw err;
      }
    });
  }

  /** #readMarker returns the tier id in the marker, or undefined when there is no marker; S3 errors pass through. */
  async #readMarker(): Promise<string | undefined> {
    try {
      const res = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#location.bucket, Key: this.#key(TIER_MARKER) }),
      );
      return (await res.Body!.transformToString()).trim();
    } catch (err) {
      if (errorName(err) === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  /** #call runs one request; what it throws that is not already ours becomes #failure's error. */
  async #call<T>(verb: string, name: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw err instanceof HindsightError ? err : this.#failure(verb, name, err);
    }
  }

  /**
   * #failure turns an error of the SDK or the network into ours. Whatever the server refuses
   * makes the tier offline, as much as a server that does not answer: the tier cannot do what
   * it is for until someone fixes the keys, the policy, the region or the bucket, and the
   * two-tier rules must go on with the other tiers meanwhile.
   */
  #failure(verb: string, name: string, err: unknown): unknown {
    const status = statusOf(err);
    const endpoint = this.#location.endpoint ?? 'AWS';
    let why: string;
    if (status === undefined) {
      if (!isNetworkError(err)) return err;
      const { code } = err as { code?: string };
      why = `cannot reach ${endpoint} to ${verb} ${name}: ${code ?? errorName(err)}`;
    } else if (status === 401 || status === 403) {
      why = `access denied (${errorName(err)}, HTTP ${status}) to ${verb} ${name}: check the credentials file and the bucket policy`;
    } else if (errorName(err) === 'NoSuchBucket') {
      why = `bucket ${this.#location.bucket} does not exist`;
    } else if (status === 301) {
      why = `the bucket answers from another region (HTTP 301): check region= in the tier URL`;
    } else {
      why = `the server answered ${errorName(err)} (HTTP ${status}) to ${verb} ${name}`;
    }
    this.#verified = false;
    return tierOffline(this.url, why, err);
  }

  /** #base is the key prefix of every object of the tier, '' or ending in `/`. */
  #base(): string {
    return this.#location.prefix === '' ? '' : `${this.#location.prefix}/`;
  }

  #key(name: string): string {
    return `${this.#base()}${name}`;
  }
}

/** statusOf is the HTTP status of an S3 answer, undefined for a request that got none. */
function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function errorName(err: unknown): string {
  return (err as { name?: string } | undefined)?.name ?? String(err);
}

/** NETWORK_CODES are the socket errors of a connection that failed or was cut off. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * isNetworkError tells a request that got no answer: the SDK marks the errors of its requests
 * with `$metadata`; a body cut off mid-read surfaces as a plain socket error. Anything else
 * (a bug of ours) is not the tier's state and passes through as it is.
 */
function isNetworkError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code } = err as { code?: unknown };
  return (
    '$metadata' in err ||
    errorName(err) === 'TimeoutError' ||
    (typeof code === 'string' && NETWORK_CODES.has(code))
  );
}

function isObjectName(name: string): boolean {
  try {
    checkObjectName(name);
    return true;
  } catch {
    return false;
  }
}
