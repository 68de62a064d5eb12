import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
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
 * freePort returns a loopback TCP port that was free a moment ago: the agent stores its
 * configured listen address for other nodes to dial, so port 0 cannot be passed through.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('free port: no TCP address');
  return address.port;
}

/**
 * runCli runs `bin/hindsight args` to completion within `timeoutMs` (its process group is
 * killed past that) and returns its exit code and output.
 */
export function runCli(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  return new Promise<CliResult>((resolve, reject) => {
    const child = spawn(HINDSIGHT_BIN, args, {
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
