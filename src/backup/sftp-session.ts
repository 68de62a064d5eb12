import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { type Clock, errorMessage, HindsightError } from '../core/index.ts';
import { tierOffline } from './tier.ts';

/** SFTP status codes (draft-ietf-secsh-filexfer-02 §7) that the SFTP tier tells apart. */
export const SFTP_NO_SUCH_FILE = 2;
export const SFTP_PERMISSION_DENIED = 3;

/** DEFAULT_SFTP_PORT is the port of an `sftp://` URL that names none. */
const DEFAULT_SFTP_PORT = 22;
/** DEFAULT_KEEPALIVE_MS and KEEPALIVE_COUNT_MAX bound how long a dead link goes unnoticed (about a minute). */
const DEFAULT_KEEPALIVE_MS = 15_000;
const KEEPALIVE_COUNT_MAX = 3;
/** FIRST_PAUSE_MS doubles after each failed attempt to connect, up to MAX_PAUSE_MS. */
const FIRST_PAUSE_MS = 250;
const MAX_PAUSE_MS = 4_000;

/** SftpAddress is where an `sftp://USER@HOST:PORT/PATH` tier lives; `url` is that, normalised. */
export interface SftpAddress {
  url: string;
  username: string;
  host: string;
  port: number;
  /** The repository directory on the server: absolute, without a trailing `/`. */
  root: string;
}

/** SftpLogin is how one connection is made: the key that logs in, the pinned host key, bounds. */
export interface SftpLogin {
  /** Path of the private key (OpenSSH format, e.g. ed25519) that logs in. */
  identity: string;
  /** The server's host key fingerprint as `ssh-keygen -lf` prints it (`SHA256:...`). */
  hostKey: string;
  clock: Clock;
  /** Attempts before the tier is offline; an untrusted host key or a refused login is never retried. */
  attempts: number;
  /** How long one attempt may take, from the TCP connect to logged in. */
  timeoutMs: number;
}

/** SftpStats is the part of an SFTP `ATTRS` that the tier reads. */
export interface SftpStats {
  size: number;
  isDirectory(): boolean;
  isFile(): boolean;
}

/*
 * ssh2 ships no type declarations and @types/ssh2 is not a dependency: these are the members the
 * tier uses, as ssh2 1.17 documents them. Callbacks get an Error with a numeric `code` for an
 * SFTP status, and one without a code when the channel closed under the request.
 */
type Done<T> = (err: (Error & { code?: unknown; level?: string }) | null | undefined, value: T) => void;
interface SftpChannel {
  open(path: string, flags: string, cb: Done<Buffer>): void;
  close(handle: Buffer, cb: Done<void>): void;
  read(handle: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: Done<number>): void;
  write(handle: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: Done<void>): void;
  fstat(handle: Buffer, cb: Done<SftpStats>): void;
  stat(path: string, cb: Done<SftpStats>): void;
  rename(from: string, to: string, cb: Done<void>): void;
  mkdir(path: string, cb: Done<void>): void;
  readdir(path: string, cb: Done<{ filename: string; attrs: SftpStats }[]>): void;
  unlink(path: string, cb: Done<void>): void;
  ext_openssh_fsync(handle: Buffer, cb: Done<void>): void;
  on(event: 'close' | 'end' | 'error', fn: () => void): void;
}
interface SshClient {
  connect(config: Record<string, unknown>): void;
  sftp(cb: Done<SftpChannel>): void;
  end(): void;
  destroy(): void;
  setNoDelay(noDelay: boolean): void;
  on(
    event: 'ready' | 'close' | 'end' | 'error',
    fn: (err?: Error & { code?: unknown; level?: string }) => void,
  ): void;
}
const { Client } = createRequire(import.meta.url)('ssh2') as { Client: new () => SshClient };

/** parseSftpUrl reads `sftp://USER@HOST:PORT/PATH`, refusing a password: a tier logs in by key only. */
export function parseSftpUrl(url: string): SftpAddress {
  const bad = (why: string) =>
    new HindsightError('E_TIER_URL', `not an SFTP tier URL: ${url}: ${why}`, {
      hint: 'e.g. sftp://backup@nas.example:22/srv/hindsight, with the key given as the identity',
    });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad('it does not parse');
  }
  if (parsed.protocol !== 'sftp:') throw bad('it is not sftp://');
  // A password in a URL ends up in configuration, logs and `tier list`: refused outright.
  if (parsed.password !== '') throw bad('a password is never put in the URL; log in with a key file');
  if (parsed.username === '') throw bad('it names no user');
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw bad('it names no host');
  const root = decodeURIComponent(parsed.pathname).replace(/\/+$/, '');
  if (root === '' || parsed.search !== '' || parsed.hash !== '') throw bad('it names no directory');
  const username = decodeURIComponent(parsed.username);
  const port = parsed.port === '' ? DEFAULT_SFTP_PORT : Number(parsed.port);
  const shown = `sftp://${parsed.username}@${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
  return { url: shown, username, host, port, root };
}

/** fingerprintOf is a host key's SHA-256 fingerprint, as `ssh-keygen -lf` prints it. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** statusOf is the SFTP status code of a failed request, or undefined when it is no SFTP answer (a lost link). */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** call turns one ssh2 callback call into a promise, a synchronous throw included. */
function call<T>(start: (done: Done<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      start((err, value) => (err ? reject(err) : resolve(value)));
    } catch (err) {
      reject(err);
    }
  });
}

/** Attempt is the outcome of one try to log in: a session, or why not and whether trying again may help. */
type Attempt = { session: SftpSession } | { error: HindsightError; isPermanent: boolean };

/**
 * SftpSession is one logged-in SSH connection to a tier's server with its SFTP channel, the
 * requests as promises. `isOpen` turns false, for good, once either closes: the tier then makes
 * a new session rather than send a request that no one would answer.
 */
export class SftpSession {
  readonly #client: SshClient;
  readonly #sftp: SftpChannel;
  #isOpen = true;

  private constructor(client: SshClient, sftp: SftpChannel) {
    this.#client = client;
    this.#sftp = sftp;
    const closed = () => {
      this.#isOpen = false;
      client.end();
    };
    // After an error ssh2 closes the link itself; any of these ends the session for good.
    for (const event of ['close', 'end', 'error'] as const) {
      client.on(event, closed);
      sftp.on(event, closed);
    }
  }

  /** isLinkLost tells whether `err`, from a request of this session, means the connection is gone. */
  isLinkLost(err: unknown): boolean {
    // ssh2 fails the requests still out, then closes the channel: by the time a caller sees the
    // error, the session is closed. "No response" covers a close seen in another order.
    return statusOf(err) === undefined && (!this.#isOpen || errorMessage(err) === 'No response from server');
  }

  /**
   * connect logs in to `address` as `login` says, trying up to `login.attempts` times with
   * growing pauses. A host key other than the pinned one is E_TIER_UNTRUSTED and a refused login
   * E_TIER_OFFLINE, both at once: trying again cannot change them.
   */
  static async connect(address: SftpAddress, login: SftpLogin): Promise<SftpSession> {
    let key: Buffer;
    try {
      key = await readFile(login.identity);
    } catch (err) {
      throw tierOffline(address.url, `cannot read its key file ${login.identity}: ${errorMessage(err)}`, err);
    }
    let pause = FIRST_PAUSE_MS;
    for (let attempt = 1; ; attempt++) {
      const outcome = await SftpSession.#tryConnect(address, login, key);
      if ('session' in outcome) return outcome.session;
      if (outcome.isPermanent || attempt >= login.attempts) throw outcome.error;
      await login.clock.sleep(pause);
      pause = Math.min(pause * 2, MAX_PAUSE_MS);
    }
  }

  /** tryConnect makes one attempt to log in and open the SFTP channel. */
  static #tryConnect(address: SftpAddress, login: SftpLogin, key: Buffer): Promise<Attempt> {
    return new Promise<Attempt>((resolve) => {
      const client = new Client();
      let presented: string | undefined;
      let isSettled = false;
      const fail = (err: unknown) => {
        if (isSettled) return;
        isSettled = true;
        client.destroy();
        if (presented !== undefined && presented !== login.hostKey) {
          resolve({ isPermanent: true, error: untrusted(address, login.hostKey, presented) });
          return;
        }
        const level = (err as { level?: string } | null)?.level;
        const isRefused = level === 'client-authentication';
        const why = isRefused
          ? `the server refused the key ${login.identity} for user ${address.username} (is its public key in authorized_keys?)`
          : describeFailure(err, login.timeoutMs);
        resolve({ isPermanent: isRefused, error: tierOffline(address.url, why, err) });
      };
      // An error after the session is made must not go unhandled: the session sees the close.
      client.on('error', fail);
      client.on('close', () => fail(new Error('the server closed the connection')));
      client.on('ready', () => {
        client.sftp((err, sftp) => {
          if (err) return fail(new Error(`the server offers no SFTP: ${err.message}`, { cause: err }));
          if (isSettled) return;
          isSettled = true;
          resolve({ session: new SftpSession(client, sftp) });
        });
      });
      try {
        client.connect({
          host: address.host,
          port: address.port,
          username: address.username,
          privateKey: key,
          readyTimeout: login.timeoutMs,
          keepaliveInterval: DEFAULT_KEEPALIVE_MS,
          keepaliveCountMax: KEEPALIVE_COUNT_MAX,
          hostVerifier: (hostKey: Buffer) => {
            presented = fingerprintOf(hostKey);
            return presented === login.hostKey;
          },
        });
        // SSH and SFTP are request and answer: Nagle's algorithm would hold a small request back
        // until the server's delayed ACK, some 40 ms a round trip.
        client.setNoDelay(true);
      } catch (err) {
        // ssh2 throws here for a key it cannot parse (or one with a passphrase).
        fail(new Error(`cannot use the key file ${login.identity}: ${errorMessage(err)}`, { cause: err }));
      }
    });
  }

  /** probe returns the fingerprint of the host key the server at `host:port` presents, logging in to nothing. */
  static probe(host: string, port: number, timeoutMs: number): Promise<string> {
    const where = `sftp://${host}:${port}`;
    return new Promise<string>((resolve, reject) => {
      const client = new Client();
      let seen: string | undefined;
      const settle = (err: unknown) => {
        client.destroy();
        if (seen !== undefined) resolve(seen);
        else reject(tierOffline(where, describeFailure(err, timeoutMs), err));
      };
      client.on('error', settle);
      client.on('close', () => settle(new Error('the server closed the connection')));
      try {
        client.connect({
          host,
          port,
          username: 'hindsight-probe',
          readyTimeout: timeoutMs,
          // Learn the key, then refuse it: nothing is sent past the key exchange.
          hostVerifier: (hostKey: Buffer) => {
            seen = fingerprintOf(hostKey);
            return false;
          },
        });
      } catch (err) {
        settle(err);
      }
    });
  }

  get isOpen(): boolean {
    return this.#isOpen;
  }

  /** end closes the connection; requests still out fail, as on a lost link. */
  end(): void {
    this.#isOpen = false;
    this.#client.end();
  }

  open(path: string, flags: 'r' | 'wx'): Promise<Buffer> {
    return call((done) => this.#sftp.open(path, flags, done));
  }
  close(handle: Buffer): Promise<void> {
    return call((done) => this.#sftp.close(handle, done));
  }
  /** read reads up to `length` bytes at `position` into `into` from `offset`; 0 at the end of the file. */
  read(handle: Buffer, into: Buffer, offset: number, length: number, position: number): Promise<number> {
    return call((done) => this.#sftp.read(handle, into, offset, length, position, done));
  }
  write(handle: Buffer, bytes: Buffer, position: number): Promise<void> {
    return call((done) => this.#sftp.write(handle, bytes, 0, bytes.length, position, done));
  }
  /** fsync makes the file durable on the server (fsync@openssh.com); false when the server cannot. */
  async fsync(handle: Buffer): Promise<boolean> {
    try {
      // ssh2 throws at once when the server did not offer the extension.
      await call<void>((done) => this.#sftp.ext_openssh_fsync(handle, done));
      return true;
    } catch (err) {
      if (statusOf(err) === undefined && this.#isOpen && /not support/.test(errorMessage(err))) return false;
      throw err;
    }
  }
  fstat(handle: Buffer): Promise<SftpStats> {
    return call((done) => this.#sftp.fstat(handle, done));
  }
  stat(path: string): Promise<SftpStats> {
    return call((done) => this.#sftp.stat(path, done));
  }
  /** rename is SSH_FXP_RENAME, which OpenSSH carries out as link + unlink: it never replaces `to`. */
  rename(from: string, to: string): Promise<void> {
    return call((done) => this.#sftp.rename(from, to, done));
  }
  mkdir(path: string): Promise<void> {
    return call((done) => this.#sftp.mkdir(path, done));
  }
  readdir(path: string): Promise<{ filename: string; attrs: SftpStats }[]> {
    return call((done) => this.#sftp.readdir(path, done));
  }
  unlink(path: string): Promise<void> {
    return call((done) => this.#sftp.unlink(path, done));
  }
}

/** untrusted is the error of a server whose host key is not the pinned one. */
function untrusted(address: SftpAddress, expected: string, presented: string): HindsightError {
  return new HindsightError(
    'E_TIER_UNTRUSTED',
    `tier ${address.url}: the server presented host key ${presented}, not the ${expected} it was set up with; nothing was sent`,
    {
      hint:
        'if the server was reinstalled or its key changed on purpose, compare the new fingerprint on the server ' +
        '(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and set the tier up again; otherwise the connection ' +
        'may be intercepted',
    },
  );
}

/** describeFailure says in a few words why a connection failed, for the offline error. */
function describeFailure(err: unknown, timeoutMs: number): string {
  const { code, level } = (err ?? {}) as { code?: unknown; level?: string };
  if (code === 'ECONNREFUSED') return 'the connection was refused (is sshd running on that port?)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'the host name does not resolve';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'the host cannot be reached';
  if (level === 'client-timeout') return `no SSH handshake within ${timeoutMs} ms`;
  return errorMessage(err);
}
