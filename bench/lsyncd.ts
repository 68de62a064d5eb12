import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { waitFor } from '../test/harness/cluster.ts';

/**
 * Lsyncd runs `lsyncd -nodaemon` with default.rsync from a source to a local target directory,
 * the competitor for the write-to-arrival latency benchmark. `delay` undefined keeps lsyncd's
 * default (15 s of event aggregation).
 */
export class Lsyncd {
  readonly source: string;
  readonly target: string;
  private child: ChildProcess;

  private constructor(source: string, target: string, child: ChildProcess) {
    this.source = source;
    this.target = target;
    this.child = child;
  }

  /** start writes the config under `dir`, starts lsyncd and waits until its startup sync ran. */
  static async start(dir: string, options: { delay?: number }): Promise<Lsyncd> {
    const source = path.join(dir, 'source');
    const target = path.join(dir, 'target');
    mkdirSync(source, { recursive: true });
    mkdirSync(target, { recursive: true });
    writeFileSync(path.join(source, 'ready'), 'x');
    const delay = options.delay === undefined ? '' : `, delay = ${options.delay}`;
    const conf = path.join(dir, 'lsyncd.conf.lua');
    writeFileSync(
      conf,
      [
        `settings { logfile = ${JSON.stringify(path.join(dir, 'lsyncd.log'))}, insist = true }`,
        `sync { default.rsync, source = ${JSON.stringify(source)}, target = ${JSON.stringify(target)}${delay} }`,
        '',
      ].join('\n'),
    );
    const child = spawn('lsyncd', ['-nodaemon', conf], { stdio: 'ignore', detached: true });
    const lsyncd = new Lsyncd(source, target, child);
    try {
      // lsyncd copies the whole source once at startup; the marker's arrival says it is watching.
      await waitFor(
        () =>
          access(path.join(target, 'ready')).then(
            () => true,
            () => false,
          ),
        { timeoutMs: 30_000, intervalMs: 50, what: 'lsyncd startup sync' },
      );
    } catch (err) {
      lsyncd.stop();
      throw err;
    }
    return lsyncd;
  }

  /** stop ends lsyncd and the rsync it may be running. */
  stop(): void {
    if (this.child.pid === undefined || this.child.exitCode !== null) return;
    try {
      process.kill(-this.child.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
}
