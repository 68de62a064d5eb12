import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { freePort, waitFor } from '../test/harness/cluster.ts';

/** RsyncResult is one rsync push: wall time and the "Total bytes sent" of --stats. */
export interface RsyncResult {
  seconds: number;
  bytesSent: number;
}

const MODULE = 'bench';

/**
 * RsyncDaemon is an `rsync --daemon` on loopback with one writable module, the competitor for
 * the copy and delta benchmarks: the same data crosses a socket as with Hindsight.
 */
export class RsyncDaemon {
  readonly dir: string;
  readonly target: string;
  readonly port: number;
  private child: ChildProcess;

  private constructor(dir: string, port: number, child: ChildProcess) {
    this.dir = dir;
    this.target = path.join(dir, 'target');
    this.port = port;
    this.child = child;
  }

  /** start writes a config under `dir`, starts the daemon and waits until it accepts connections. */
  static async start(dir: string): Promise<RsyncDaemon> {
    mkdirSync(path.join(dir, 'target'), { recursive: true });
    const port = await freePort();
    const conf = path.join(dir, 'rsyncd.conf');
    // With chroot (we are root) rsync keeps absolute link targets verbatim, like a mirror must.
    writeFileSync(
      conf,
      [
        `pid file = ${path.join(dir, 'rsyncd.pid')}`,
        'use chroot = yes',
        `[${MODULE}]`,
        `  path = ${path.join(dir, 'target')}`,
        '  read only = no',
        '  munge symlinks = no',
        '  uid = root',
        '  gid = root',
        '',
      ].join('\n'),
    );
    const child = spawn(
      'rsync',
      [
        '--daemon',
        '--no-detach',
        `--config=${conf}`,
        `--port=${port}`,
        '--address=127.0.0.1',
        `--log-file=${path.join(dir, 'rsyncd.log')}`,
      ],
      { stdio: 'ignore', detached: true },
    );
    const daemon = new RsyncDaemon(dir, port, child);
    await waitFor(() => canConnect(port), { timeoutMs: 10_000, intervalMs: 50, what: 'rsync daemon' });
    return daemon;
  }

  /**
   * push runs `rsync -a --stats SRC/ rsync://…/bench/SUB/` and returns its time and bytes sent;
   * it fails past `timeoutMs`. With `durable`, the clock stops only after `sync -f` of the
   * target (syncfs of its file system), so that rsync's copy is on disk as Hindsight's is when
   * it reports a file applied. Either way the page cache is written back before the clock starts,
   * so neither side pays for dirty pages an earlier step left.
   */
  async push(
    src: string,
    sub: string,
    timeoutMs: number,
    options: { durable?: boolean } = {},
  ): Promise<RsyncResult> {
    const url = `rsync://127.0.0.1:${this.port}/${MODULE}/${sub}/`;
    await run('sync', [], timeoutMs);
    const started = performance.now();
    const out = await run('rsync', ['-a', '--stats', `${src}/`, url], timeoutMs);
    if (options.durable) await run('sync', ['-f', path.join(this.target, sub)], timeoutMs);
    const seconds = (performance.now() - started) / 1000;
    const m = /Total bytes sent: ([\d,.]+)/.exec(out);
    if (!m) throw new Error(`rsync --stats printed no "Total bytes sent":\n${out}`);
    return { seconds, bytesSent: Number(m[1].replace(/[,.]/g, '')) };
  }

  /** stop ends the daemon and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    await exited;
  }
}

/**
 * run runs a command to completion, returning stdout+stderr, and kills it past `timeoutMs`;
 * `env` is added to this process's environment.
 */
export function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? signal}):\n${out.slice(-2000)}`));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
