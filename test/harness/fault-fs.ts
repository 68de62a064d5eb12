import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { needPrerequisite } from './prerequisite.ts';
import { waitFor } from './wait.ts';

/** PYTHON is Debian's interpreter, the one python3-fusepy installs for (not a pyenv shim). */
const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fault-fs.py');
/** How long unmount waits for the FUSE process to exit on SIGTERM, and then on SIGKILL. */
const DEFAULT_EXIT_TIMEOUT_MS = 10_000;

/** FaultOp names a call fault-fs.py can fail: fsync covers fsync and fdatasync. */
export type FaultOp = 'write' | 'fsync' | 'create' | 'rename' | 'fsyncdir';

/** FaultRule fails every `op` on a path (inside the mount) matching `match` with `errno`. */
export interface FaultRule {
  op: FaultOp;
  errno: 'EIO' | 'ENOSPC' | 'EROFS';
  /** A regular expression searched in the path inside the mount, e.g. '\\.pack$'. */
  match: string;
  /** Fail only this many matching calls, then let them pass (default: all of them). */
  times?: number;
}

/**
 * FaultFs is a FUSE pass-through (test/harness/fault-fs.py) of a backing directory, mounted
 * over a directory the agent uses, that fails chosen calls with a chosen errno while rules are
 * set. The kernel really returns the error to the agent's syscall: nothing of ours is mocked.
 * Needs root, /dev/fuse and python3-fusepy; see fuseMissing.
 */
export class FaultFs {
  readonly mountpoint: string;
  readonly backing: string;
  readonly #control: string;
  readonly #child: ChildProcess;
  #output = '';

  private constructor(mountpoint: string, backing: string, control: string, child: ChildProcess) {
    this.mountpoint = mountpoint;
    this.backing = backing;
    this.#control = control;
    this.#child = child;
    for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => (this.#output += d));
  }

  /**
   * mount moves whatever `dir` holds to a fresh backing directory beside it and mounts the
   * pass-through of that backing over `dir`. The agent using `dir` must be stopped meanwhile.
   */
  static async mount(dir: string): Promise<FaultFs> {
    const backing = `${dir}.backing`;
    renameSync(dir, backing);
    mkdirSync(dir, { mode: 0o700 });
    const control = path.join(mkdtempSync(path.join(os.tmpdir(), 'fault-fs-')), 'control.json');
    const child = spawn(PYTHON, [SCRIPT, backing, dir, control], { stdio: ['ignore', 'pipe', 'pipe'] });
    const fs = new FaultFs(dir, backing, control, child);
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`fault-fs exited ${child.exitCode}: ${fs.#output}`);
        return isMounted(dir);
      },
      { timeoutMs: 20_000, what: `fault-fs mounted on ${dir}` },
    ).catch((err: Error) => {
      child.kill('SIGKILL');
      // Give `dir` its data back: left under the backing name, the agent would start on an
      // empty directory and every later test would see the wrong tree.
      if (isMounted(dir)) execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      rmdirSync(dir);
      renameSync(backing, dir);
      throw new Error(`${err.message}\n${fs.#output}`, { cause: err });
    });
    return fs;
  }

  /** fail replaces the rules: from now on, matching calls fail (the script rereads them per call). */
  fail(rules: FaultRule[]): void {
    // By rename, never in place: every version gets a new inode, which is how the script tells
    // two versions apart that share a modification time (a fail and a heal within one tick).
    const tmp = `${this.#control}.tmp`;
    writeFileSync(tmp, JSON.stringify({ rules }));
    renameSync(tmp, this.#control);
  }

  /** heal removes every rule: all calls pass through again. */
  heal(): void {
    this.fail([]);
  }

  /** counts returns how many faults were injected so far, per op. */
  counts(): Partial<Record<FaultOp, number>> {
    const file = `${this.#control}.counts`;
    return existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<Record<FaultOp, number>>)
      : {};
  }

  /** output is what the FUSE process printed (its errors), for failure messages. */
  get output(): string {
    return this.#output;
  }

  /**
   * unmount detaches the mount (lazily, so an agent still holding files cannot block it), ends
   * the FUSE process (SIGTERM, then SIGKILL if it has not exited within
   * DEFAULT_EXIT_TIMEOUT_MS), and moves the backing directory back to `dir`; safe to call twice.
   */
  async unmount(): Promise<void> {
    if (isMounted(this.mountpoint)) execFileSync('umount', ['-l', this.mountpoint], { stdio: 'pipe' });
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      const exited = new Promise<boolean>((resolve) => this.#child.once('exit', () => resolve(true)));
      // Unref'd: a timer left over once the process exited must not hold the test run open.
      const timeout = () => sleep(DEFAULT_EXIT_TIMEOUT_MS, false, { ref: false });
      this.#child.kill('SIGTERM');
      if (!(await Promise.race([exited, timeout()]))) {
        // A FUSE process stuck in a request would otherwise hang the suite's clean-up forever.
        this.#child.kill('SIGKILL');
        if (isMounted(this.mountpoint)) execFileSync('umount', ['-l', this.mountpoint], { stdio: 'pipe' });
        await Promise.race([exited, timeout()]);
      }
    }
    if (existsSync(this.backing)) {
      rmSync(this.mountpoint, { recursive: true, force: true });
      renameSync(this.backing, this.mountpoint);
    }
    rmSync(path.dirname(this.#control), { recursive: true, force: true });
  }
}

/** isMounted tells whether `dir` is a mount point (per /proc/self/mountinfo). */
export function isMounted(dir: string): boolean {
  const target = path.resolve(dir);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === target);
}

/**
 * fuseMissing says why fault-fs cannot run here (not root, no /dev/fuse, no python3-fusepy),
 * or null when it can.
 */
export async function fuseMissing(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'FUSE fault tests mount file systems and need root';
  if (!existsSync('/dev/fuse')) return '/dev/fuse is missing';
  const ok = await new Promise<boolean>((resolve) =>
    execFile(PYTHON, ['-c', 'import fusepy'], (err) => resolve(err === null)),
  );
  if (!ok) return `${PYTHON} cannot import fusepy (apt-get install fuse3 python3-fusepy)`;
  return null;
}

/** needFuse fails the test in CI and skips it loudly elsewhere when fault-fs cannot run. */
export async function needFuse(t: TestContext): Promise<boolean> {
  return needPrerequisite(t, await fuseMissing());
}
