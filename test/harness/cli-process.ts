import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** HINDSIGHT_BIN is the CLI that every test drives, the same one people run. */
export const HINDSIGHT_BIN = fileURLToPath(new URL('../../bin/hindsight', import.meta.url));

/** CliResult is what one CLI invocation returned. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const CLI_TIMEOUT_MS = 60_000;

/**
 * freePort returns a loopback TCP port reserved for this test run. The agent stores its
 * configured listen address for other nodes to dial, so port 0 cannot be passed through, and a
 * port that was merely free a moment ago can be taken before the agent binds it: by another
 * test file's freePort, or as the source port of any outgoing connection. So ports come from
 * below the kernel's ephemeral range, and each is claimed with an exclusive lock file shared by
 * every test process of one run (they are children of one runner).
 */
export async function freePort(): Promise<number> {
  const [low, high] = reservableRange();
  mkdirSync(PORT_LOCKS, { recursive: true });
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    try {
      closeSync(openSync(path.join(PORT_LOCKS, String(port)), 'wx'));
    } catch {
      continue; // claimed by another test of this run
    }
    if (await canBind(port)) return port;
  }
  throw new Error(`free port: no free loopback port between ${low} and ${high}`);
}

const PORT_LOCKS = path.join(tmpdir(), `hindsight-test-ports-${process.ppid}`);

/** reservableRange is a port range no outgoing connection takes: below the ephemeral range. */
function reservableRange(): [number, number] {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
  } catch {
    // not Linux: keep the common default
  }
  const high = Math.min(ephemeralLow, 65536);
  return [Math.max(1024, high - 20000), high];
}

function canBind(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * runCli runs `bin/hindsight args` to completion within `timeoutMs` (its process group is
 * killed past that) and returns its exit code and output.
 */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number; cwd?: string; wrap?: string[] } = {},
) {
  return new Promise<CliResult>((resolve, reject) => {
    const [cmd, ...pre] = [...(options.wrap ?? []), HINDSIGHT_BIN];
    const child = spawn(cmd, [...pre, ...args], {
      cwd: options.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), options.timeoutMs ?? CLI_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr: signal ? `${stderr}\n(killed by ${signal})` : stderr });
    });
  });
}

/** killGroup sends `signal` to the process group a detached child leads, if it still exists. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}
