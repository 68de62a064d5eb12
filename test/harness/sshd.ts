import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './cli-process.ts';
import { waitFor } from './wait.ts';

/** SSHD is OpenSSH's server (package openssh-server, installed in CI). */
export const SSHD = '/usr/sbin/sshd';
/** PRIVSEP_DIR is the empty directory sshd chroots its unprivileged half into; a packaged sshd fixes the path. */
const PRIVSEP_DIR = '/run/sshd';
/** STOP_TIMEOUT_MS is how long the server and its sessions get to end on SIGTERM before SIGKILL. */
const STOP_TIMEOUT_MS = 5_000;
/** APPEND_ONLY_REFUSED are the SFTP requests the append-only key may not make. */
const APPEND_ONLY_REFUSED = 'remove,rmdir,rename,posix-rename';

/** SshAccount is one way to log in to the test server: a user and the private key file that logs in. */
export interface SshAccount {
  user: string;
  identity: string;
}

/**
 * sshdMissing says what this machine lacks to run a real sshd, or undefined when nothing is
 * missing; hand it to needPrerequisite.
 */
export function sshdMissing(): string | undefined {
  for (const bin of [SSHD, '/usr/bin/ssh-keygen']) {
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      return `${bin} is not installed (apt-get install openssh-server)`;
    }
  }
  const isRoot = process.getuid?.() === 0;
  if (!existsSync(PRIVSEP_DIR) && !isRoot)
    return `${PRIVSEP_DIR} is missing; as root: mkdir -m 755 ${PRIVSEP_DIR}`;
  return undefined;
}

/**
 * Sshd is a real OpenSSH server on a free loopback port, run by the current user (root in CI)
 * from a temporary directory: its own host key, config and authorized_keys. Two keys of the
 * current user log in, both forced into `internal-sftp` with `restrict`:
 *
 * - `normal`, an ordinary SFTP account;
 * - `appendOnly`, whose key runs `internal-sftp -P remove,rmdir,rename,posix-rename`: it can
 *   create, write and read files and make directories, but every delete and rename is refused
 *   with "permission denied" (the way one serves an append-only backup account).
 *
 * `stop` ends the server and every session it forked (sshd's sessions leave its process group,
 * so they are found through /proc); `start` brings it back on the same port with the same keys;
 * `dropSessions` cuts the connections and keeps the server.
 * The process's exit kills whatever is left, so a failed test leaves no server behind.
 */
export class Sshd {
  readonly host = '127.0.0.1';
  readonly port: number;
  readonly dir: string;
  /** The host key's fingerprint, as `ssh-keygen -lf` prints it. */
  readonly hostKey: string;
  readonly normal: SshAccount;
  readonly appendOnly: SshAccount;
  readonly #config: string;
  #child: ChildProcess | undefined;
  #output = '';
  readonly #killOnExit = () => this.#killAll();

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
    const user = userInfo().username;
    const hostKey = keygen(path.join(dir, 'host_ed25519'));
    this.hostKey = fingerprint(`${hostKey}.pub`);
    this.normal = { user, identity: keygen(path.join(dir, 'normal_ed25519')) };
    this.appendOnly = { user, identity: keygen(path.join(dir, 'append_only_ed25519')) };
    const pub = (account: SshAccount) => readFileSync(`${account.identity}.pub`, 'utf8').trim();
    writeFileSync(
      path.join(dir, 'authorized_keys'),
      `restrict,command="internal-sftp" ${pub(this.normal)}\n` +
        `restrict,command="internal-sftp -P ${APPEND_ONLY_REFUSED}" ${pub(this.appendOnly)}\n`,
      { mode: 0o600 },
    );
    this.#config = path.join(dir, 'sshd_config');
    writeFileSync(
      this.#config,
      [
        `ListenAddress ${this.host}:${port}`,
        `HostKey ${hostKey}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        // Temporary directories may have loose modes; nothing here guards real accounts.
        'StrictModes no',
        'UsePAM no',
        'AuthenticationMethods publickey',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'Subsystem sftp internal-sftp',
        'MaxStartups 100',
        'LogLevel INFO',
        '',
      ].join('\n'),
    );
  }

  /** launch makes a new server in a temporary directory and waits until it listens. */
  static async launch(): Promise<Sshd> {
    if (!existsSync(PRIVSEP_DIR)) mkdirSync(PRIVSEP_DIR, { mode: 0o755, recursive: true });
    const dir = mkdtempSync(path.join(tmpdir(), 'hs-sshd-'));
    const server = new Sshd(dir, await freePort());
    try {
      await server.start();
    } catch (err) {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return server;
  }

  /** output is what sshd logged (its -e output), for failure messages. */
  get output(): string {
    return this.#output;
  }

  /** start runs the server again (after `stop`) and waits for its "listening" line. */
  async start(): Promise<void> {
    if (this.#child) throw new Error('sshd is running already');
    const child = spawn(SSHD, ['-D', '-e', '-f', this.#config], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    process.once('exit', this.#killOnExit);
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      this.#output += text;
    });
    await waitFor(
      () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`sshd exited (${child.exitCode ?? child.signalCode}): ${this.#output}`);
        return this.#output.includes(`Server listening on ${this.host} port ${this.port}.`);
      },
      { timeoutMs: 20_000, what: `sshd listening on port ${this.port}` },
    ).catch((err: Error) => {
      this.#killAll();
      this.#child = undefined;
      throw new Error(`${err.message}\n${this.#output}`, { cause: err });
    });
  }

  /**
   * stop ends the server and its sessions; safe to call twice. Clients see their connections
   * close. The server gets SIGTERM, and SIGKILL if it has not exited within STOP_TIMEOUT_MS; its
   * sessions are killed outright: how a session ends is nothing a test of a client looks at, and
   * a session whose monitor went first can sit out a SIGTERM for seconds.
   */
  async stop(): Promise<void> {
    const root = this.#child?.pid;
    if (root === undefined) return;
    // Sessions first: once the server is gone they belong to init and are no longer found.
    const sessions = signal(descendantsOf(root), 'SIGKILL');
    signal([root], 'SIGTERM');
    for (let waited = 0; isAlive(root) && waited < STOP_TIMEOUT_MS; waited += 50) await sleep(50);
    if (isAlive(root)) signal([root], 'SIGKILL');
    const pids = [...sessions, root];
    await waitFor(() => !pids.some(isAlive), {
      timeoutMs: STOP_TIMEOUT_MS,
      what: 'sshd and its sessions to end',
    });
    this.#child = undefined;
    process.removeListener('exit', this.#killOnExit);
  }

  /**
   * dropSessions kills every session the server forked, as a broken link would, and keeps the
   * server listening; returns how many processes it killed.
   */
  async dropSessions(): Promise<number> {
    const root = this.#child?.pid;
    if (root === undefined) throw new Error('sshd is not running');
    const pids = signal(descendantsOf(root), 'SIGKILL');
    await waitFor(() => !pids.some(isAlive), { timeoutMs: STOP_TIMEOUT_MS, what: 'sshd sessions to end' });
    return pids.length;
  }

  /** dispose stops the server and removes its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** #killAll kills the server and every process it forked, at once: the test process is exiting. */
  #killAll(): void {
    const root = this.#child?.pid;
    if (root !== undefined) signal([...descendantsOf(root), root], 'SIGKILL');
  }
}

/** signal sends `sig` to each of `pids` (one already gone is skipped), returning them. */
function signal(pids: number[], sig: NodeJS.Signals): number[] {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // gone already
    }
  }
  return pids;
}

/** keygen makes an ed25519 key pair at `file` (and `file.pub`), returning `file`. */
function keygen(file: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', path.basename(file), '-f', file], {
    stdio: 'pipe',
  });
  return file;
}

/** fingerprint is what `ssh-keygen -lf` prints of a key: `SHA256:...`. */
export function fingerprint(publicKeyFile: string): string {
  const line = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyFile], { encoding: 'utf8' });
  const found = /SHA256:\S+/.exec(line);
  if (!found) throw new Error(`ssh-keygen -lf printed no SHA256 fingerprint: ${line}`);
  return found[0];
}

/** descendantsOf lists every process below `pid`, read from /proc (Linux). */
function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // The command may hold spaces and parentheses: the fields after the last ')' are fixed.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/** isAlive tells whether `pid` still runs; a zombie no longer does. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
