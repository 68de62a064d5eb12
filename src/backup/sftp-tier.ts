import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { type Clock, errorMessage, HindsightError, isHindsightError } from '../core/index.ts';
import {
  parseSftpUrl,
  SFTP_NO_SUCH_FILE,
  SFTP_PERMISSION_DENIED,
  type SftpAddress,
  type SftpLogin,
  SftpSession,
  statusOf,
} from './sftp-session.ts';
import { ANY_TIER, checkObjectName, TIER_MARKER, type Tier, tierMissing, tierOffline } from './tier.ts';

/*
 * The marker and the wildcard id are FileTier's (file-tier.ts): a tier is a leaf and imports no
 * other tier, so they are repeated here. They belong in tier.ts, beside the contract.
 */
/** MAX_MARKER_BYTES bounds the read of a marker: it holds one id and a newline. */
const MAX_MARKER_BYTES = 4096;

/** DEFAULT_CONNECT_ATTEMPTS is how many times an SFTP tier tries to connect before it is offline. */
export const DEFAULT_CONNECT_ATTEMPTS = 10;
/** DEFAULT_CONNECT_TIMEOUT_MS bounds one attempt, from the TCP connect to logged in. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** SftpTierOptions is how an SFTP tier logs in. There is no password: an `identity` key file or nothing. */
export interface SftpTierOptions {
  /** Path of the private key (OpenSSH format, ed25519) that logs in. */
  identity: string;
  /** The server's host key fingerprint (`SHA256:...`, as `ssh-keygen -lf` prints it), pinned at `tier add`. */
  hostKey: string;
  /** The pauses between attempts to connect. */
  clock: Clock;
  /** DEFAULT_CONNECT_ATTEMPTS unless given. */
  attempts?: number;
  /** DEFAULT_CONNECT_TIMEOUT_MS unless given. */
  timeoutMs?: number;
}

/**
 * SftpTier keeps a repository in a directory of an SSH server (`sftp://USER@HOST:PORT/PATH`),
 * logged in by key, the server known by its pinned host key. One connection serves the tier
 * object and is made again on demand after it drops; `close` ends it (an open one keeps the
 * process alive).
 *
 * As with FileTier, the marker `.hindsight-tier` in PATH proves the place: writes, lists and
 * deletes read it first, so an emptied or unmounted directory on the server is `offline` and is
 * never filled instead; a read that finds its object needs no proof, one that does not reads the
 * marker before it answers "missing".
 *
 * `put` writes a staging name in the object's directory, makes it durable (fsync@openssh.com
 * where the server offers it), and renames it into place. SSH_FXP_RENAME never replaces: OpenSSH
 * carries it out as link + unlink, so an existing object stays as it is and a crash leaves at
 * most a staging file, never half an object. An append-only account (OpenSSH's `internal-sftp -P
 * rename,remove,...`) may not rename: it writes the final name directly, with exclusive create.
 * A write cut short there leaves a short object that account cannot remove; a later `put` of that
 * name finds the size wrong and fails with E_TIER_TORN instead of taking it as stored.
 */
export class SftpTier implements Tier {
  readonly url: string;
  readonly #address: SftpAddress;
  readonly #id: string;
  readonly #login: SftpLogin;
  #session: SftpSession | undefined;
  #connecting: Promise<SftpSession> | undefined;
  /** Counts `close` calls, so that a connection that was being made meanwhile is not kept. */
  #closes = 0;
  /** Whether the account may rename, asked once per session (#mayRename). */
  readonly #canRename = new WeakMap<SftpSession, boolean>();

  constructor(url: string, id: string, options: SftpTierOptions) {
    this.#address = parseSftpUrl(url);
    this.url = this.#address.url;
    this.#id = id;
    this.#login = {
      identity: options.identity,
      hostKey: options.hostKey,
      clock: options.clock,
      attempts: options.attempts ?? DEFAULT_CONNECT_ATTEMPTS,
      timeoutMs: options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    };
  }

  /**
   * probeHostKey returns the fingerprint of the host key the server at `host:port` presents, so
   * that `tier add` can show it and pin it (trust on first use); it logs in to nothing.
   */
  static probeHostKey(host: string, port: number, timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): Promise<string> {
    return SftpSession.probe(host, port, timeoutMs);
  }

  /**
   * create sets up PATH on the server as a tier with id `id`: it is made if it is missing, and
   * must be empty or already be this tier.
   */
  static async create(url: string, id: string, options: SftpTierOptions): Promise<SftpTier> {
    const tier = new SftpTier(url, id, options);
    try {
      await tier.#run('setting it up', (s) => tier.#setUp(s));
    } catch (err) {
      tier.close();
      throw err;
    }
    return tier;
  }

  /** close ends the connection; a later call makes a new one. */
  close(): void {
    this.#closes++;
    this.#session?.end();
    this.#session = undefined;
  }

  async check(): Promise<void> {
    await this.#run('checking its marker', (s) => this.#checkMarker(s));
  }

  async put(name: string, bytes: Uint8Array): Promise<void> {
    checkObjectName(name);
    const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    await this.#run(`storing ${name}`, async (s) => {
      await this.#checkMarker(s);
      const target = this.#path(name);
      if ((await this.#mayRename(s)) && (await this.#putByRename(s, target, data))) return;
      try {
        await this.#createFile(s, target, data);
      } catch (err) {
        // Exclusive create fails on an existing name (OpenSSH says only "failure"): look.
        if (statusOf(err) === undefined || !(await this.#isStored(s, target, data.length))) throw err;
      }
    });
  }

  async get(name: string, range?: { offset: number; length: number }): Promise<Buffer> {
    checkObjectName(name);
    return this.#run(`reading ${name}`, async (s) => {
      let handle: Buffer;
      try {
        handle = await s.open(this.#path(name), 'r');
      } catch (err) {
        if (statusOf(err) !== SFTP_NO_SUCH_FILE) throw err;
        await this.#checkMarker(s);
        throw tierMissing(this.url, name);
      }
      try {
        const offset = range?.offset ?? 0;
        const length = range?.length ?? (await s.fstat(handle)).size;
        const out = Buffer.alloc(length);
        let got = 0;
        while (got < length) {
          const n = await s.read(handle, out, got, length - got, offset + got);
          if (n === 0) break; // the end of the object: a range past it is cut, as a file read is
          got += n;
        }
        return out.subarray(0, got);
      } finally {
        await s.close(handle).catch(() => {});
      }
    });
  }

  async exists(name: string): Promise<boolean> {
    checkObjectName(name);
    return this.#run(`looking for ${name}`, async (s) => {
      try {
        await s.stat(this.#path(name));
        return true;
      } catch (err) {
        if (statusOf(err) !== SFTP_NO_SUCH_FILE) throw err;
        await this.#checkMarker(s);
        return false;
      }
    });
  }

  async *list(prefix: string): AsyncIterable<string> {
    const names = await this.#run(`listing ${prefix || 'everything'}`, async (s) => {
      await this.#checkMarker(s);
      const out: string[] = [];
      // Only the directories that can hold such names are read: `packs/ab` reads `packs` and below.
      await this.#walk(s, prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '', prefix, out);
      return out;
    });
    yield* names;
  }

  async delete(name: string): Promise<void> {
    checkObjectName(name);
    await this.#run(`deleting ${name}`, async (s) => {
      await this.#checkMarker(s);
      try {
        await s.unlink(this.#path(name));
      } catch (err) {
        if (statusOf(err) === SFTP_NO_SUCH_FILE) return;
        if (statusOf(err) !== SFTP_PERMISSION_DENIED) throw err;
        throw new HindsightError('E_TIER_READ_ONLY', `tier ${this.url} may not delete ${name}`, {
          hint:
            'the account of this tier cannot delete (an append-only tier, as intended); prune needs separate ' +
            'credentials that may delete: run it with those',
          cause: err,
        });
      }
    });
  }

  /**
   * #run runs `op` on the tier's connection, connecting first when there is none. When the link
   * drops under it, it runs once more on a new connection: every operation may be repeated (a put
   * finds its object stored, a delete finds it gone). An SFTP refusal is E_TIER_IO, naming `what`.
   */
  async #run<T>(what: string, op: (s: SftpSession) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const session = await this.#connected();
      try {
        return await op(session);
      } catch (err) {
        if (isHindsightError(err)) throw err;
        if (statusOf(err) !== undefined) {
          throw new HindsightError('E_TIER_IO', `tier ${this.url}: ${what} failed: ${errorMessage(err)}`, {
            cause: err,
          });
        }
        if (!session.isLinkLost(err)) throw err;
        session.end();
        if (this.#session === session) this.#session = undefined;
        if (attempt >= 2) throw tierOffline(this.url, `the connection dropped while ${what}`, err);
      }
    }
  }

  /** #connected is the open session, made when there is none; concurrent callers share one attempt. */
  async #connected(): Promise<SftpSession> {
    if (this.#session?.isOpen) return this.#session;
    const closes = this.#closes;
    this.#connecting ??= SftpSession.connect(this.#address, this.#login)
      .then((s) => {
        if (closes !== this.#closes) {
          s.end();
          throw tierOffline(this.url, 'the tier was closed while it connected');
        }
        this.#session = s;
        return s;
      })
      .finally(() => {
        this.#connecting = undefined;
      });
    return this.#connecting;
  }

  #path(name: string): string {
    return `${this.#address.root}/${name}`;
  }

  /** #readMarker returns the marker's text, or undefined when there is none. */
  async #readMarker(s: SftpSession): Promise<string | undefined> {
    let handle: Buffer;
    try {
      handle = await s.open(this.#path(TIER_MARKER), 'r');
    } catch (err) {
      if (statusOf(err) === SFTP_NO_SUCH_FILE) return undefined;
      throw err;
    }
    try {
      const out = Buffer.alloc(MAX_MARKER_BYTES);
      const n = await s.read(handle, out, 0, out.length, 0);
      return out.subarray(0, n).toString('utf8');
    } finally {
      await s.close(handle).catch(() => {});
    }
  }

  async #checkMarker(s: SftpSession): Promise<void> {
    let text: string | undefined;
    try {
      text = await this.#readMarker(s);
    } catch (err) {
      if (statusOf(err) === undefined) throw err;
      throw tierOffline(this.url, `its marker ${TIER_MARKER} cannot be read: ${errorMessage(err)}`, err);
    }
    if (text === undefined) {
      throw tierOffline(
        this.url,
        `its marker ${TIER_MARKER} is missing from ${this.#address.root}: is the right directory there (mounted)?`,
      );
    }
    if (this.#id !== ANY_TIER && text.trim() !== this.#id)
      throw tierOffline(this.url, `its marker names another tier (${text.trim()})`);
  }

  async #setUp(s: SftpSession): Promise<void> {
    const root = this.#address.root;
    const setupFailed = (why: string, err?: unknown) =>
      new HindsightError('E_TIER_SETUP', `cannot use ${root} on ${this.#address.host} as a tier: ${why}`, {
        hint: 'the directory must exist, or the account must be allowed to create it',
        cause: err,
      });
    try {
      await this.#makeDirs(s, root);
    } catch (err) {
      if (statusOf(err) === undefined) throw err;
      throw setupFailed(errorMessage(err), err);
    }
    const entries = await s.readdir(root).catch((err: unknown) => {
      throw statusOf(err) === undefined ? err : setupFailed(errorMessage(err), err);
    });
    const existing = await this.#readMarker(s);
    if (existing !== undefined && existing.trim() !== this.#id) {
      throw new HindsightError(
        'E_TIER_FOREIGN',
        `${this.url} is already a tier of another repository (${existing.trim()})`,
      );
    }
    if (existing === undefined && entries.length > 0) {
      throw new HindsightError('E_TIER_SETUP', `${this.url} is not empty`, {
        hint: 'give a new or empty directory; Hindsight does not mix its repository with other files',
      });
    }
    if (existing === undefined)
      await this.#createFile(s, this.#path(TIER_MARKER), Buffer.from(`${this.#id}\n`));
  }

  /**
   * #mayRename asks once per session whether the account may rename, by renaming a name that
   * does not exist: "no such file" says it may, "permission denied" that it may not. Asked up
   * front so that an append-only account does not leave a staging file it cannot remove.
   */
  async #mayRename(s: SftpSession): Promise<boolean> {
    let may = this.#canRename.get(s);
    if (may === undefined) {
      const absent = this.#path(`.rename-probe-${randomBytes(6).toString('hex')}`);
      may = await s.rename(absent, `${absent}-to`).then(
        () => true,
        (err: unknown) => {
          if (statusOf(err) === undefined) throw err;
          return statusOf(err) !== SFTP_PERMISSION_DENIED;
        },
      );
      this.#canRename.set(s, may);
    }
    return may;
  }

  /** #putByRename stores `data` by staging and renaming; false when it turns out the account may not rename. */
  async #putByRename(s: SftpSession, target: string, data: Buffer): Promise<boolean> {
    const staging = `${posix.dirname(target)}/.staging-${randomBytes(6).toString('hex')}`;
    await this.#createFile(s, staging, data);
    try {
      await s.rename(staging, target);
      return true;
    } catch (err) {
      await s.unlink(staging).catch(() => {});
      if (statusOf(err) === undefined) throw err;
      if (statusOf(err) === SFTP_PERMISSION_DENIED) {
        this.#canRename.set(s, false);
        return false;
      }
      // OpenSSH's rename is link + unlink, refused on an existing name: then it is stored already,
      // and left as it is whatever it holds.
      if (await this.#isStored(s, target)) return true;
      throw err;
    }
  }

  /**
   * #isStored tells whether `path` already holds an object. With `size` (after a direct write
   * was refused) one of another size is E_TIER_TORN: a direct write cut short leaves a short
   * object the append-only account cannot remove, and taking it as stored would let later
   * backups refer to it. Objects of one name differ in size only then (or when another
   * installation wrote the same revision, itself an error).
   */
  async #isStored(s: SftpSession, path: string, size?: number): Promise<boolean> {
    let stats: { size: number };
    try {
      stats = await s.stat(path);
    } catch (err) {
      if (statusOf(err) === SFTP_NO_SUCH_FILE) return false;
      throw err;
    }
    if (size === undefined || stats.size === size) return true;
    throw new HindsightError(
      'E_TIER_TORN',
      `tier ${this.url} holds ${path} with ${stats.size} bytes where ${size} were to be written: an earlier write was cut short`,
      {
        hint: 'the append-only account cannot replace it: remove it with the prune credentials, then back up again',
      },
    );
  }

  /**
   * #createFile writes `data` to a new file `path` (exclusive create, so nothing is written
   * through an existing name), making its directories when they are missing, and makes it
   * durable. A write that fails removes what it wrote, if the account may.
   */
  async #createFile(s: SftpSession, path: string, data: Buffer): Promise<void> {
    let handle: Buffer;
    try {
      handle = await s.open(path, 'wx');
    } catch (err) {
      if (statusOf(err) !== SFTP_NO_SUCH_FILE) throw err;
      await this.#makeDirs(s, posix.dirname(path));
      handle = await s.open(path, 'wx');
    }
    try {
      await s.write(handle, data, 0);
      // Without fsync@openssh.com the object is as durable as the server makes a closed file.
      await s.fsync(handle);
    } catch (err) {
      await s.close(handle).catch(() => {});
      await s.unlink(path).catch(() => {});
      throw err;
    }
    await s.close(handle);
  }

  /**
   * #makeDirs is `mkdir -p`, from the deepest directory up: only what is missing is made, in
   * one request when the parent is there (the usual case, a new `packs/xx`).
   */
  async #makeDirs(s: SftpSession, dir: string): Promise<void> {
    try {
      await this.#makeDir(s, dir);
    } catch (err) {
      const parent = posix.dirname(dir);
      // OpenSSH answers "no such file" for a missing parent (ENOENT) and for a file in the way
      // (ENOTDIR); making the parent then fails in turn on the file.
      if (statusOf(err) !== SFTP_NO_SUCH_FILE || parent === dir) throw err;
      await this.#makeDirs(s, parent);
      await this.#makeDir(s, dir);
    }
  }

  /** #makeDir makes `dir`; one that exists already (made by a concurrent put, say) is fine. */
  async #makeDir(s: SftpSession, dir: string): Promise<void> {
    try {
      await s.mkdir(dir);
    } catch (err) {
      if (statusOf(err) === undefined || statusOf(err) === SFTP_NO_SUCH_FILE) throw err;
      const isDir = await s.stat(dir).then(
        (st) => st.isDirectory(),
        () => false,
      );
      if (!isDir) throw err;
    }
  }

  /** #walk adds to `out` the object names under `dir` (relative; '' is the top) that start with `prefix`. */
  async #walk(s: SftpSession, dir: string, prefix: string, out: string[]): Promise<void> {
    let entries: { filename: string; attrs: { isDirectory(): boolean; isFile(): boolean } }[];
    try {
      entries = await s.readdir(dir === '' ? this.#address.root : this.#path(dir));
    } catch (err) {
      if (dir !== '' && statusOf(err) === SFTP_NO_SUCH_FILE) return; // nothing stored under it yet
      throw err;
    }
    for (const { filename, attrs } of entries) {
      // The marker, staging files and rename probes start with a dot; objects never do.
      if (filename.startsWith('.')) continue;
      const name = dir === '' ? filename : `${dir}/${filename}`;
      if (attrs.isDirectory()) {
        if (`${name}/`.startsWith(prefix) || prefix.startsWith(`${name}/`))
          await this.#walk(s, name, prefix, out);
      } else if (attrs.isFile() && name.startsWith(prefix)) {
        out.push(name);
      }
    }
  }
}
