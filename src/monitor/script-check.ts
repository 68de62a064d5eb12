import { spawn } from 'node:child_process';
import type { CheckState } from './monitor-types.ts';

/** DEFAULT_SCRIPT_TIMEOUT_MS is how long a custom check may run before it counts as unknown. */
export const DEFAULT_SCRIPT_TIMEOUT_MS = 30_000;

/** How much of a plugin's output is kept: its first line is the message. */
const MAX_OUTPUT = 64 * 1024;

/**
 * runScriptCheck runs a custom check in the monitoring-plugin convention (Nagios, Icinga,
 * Zabbix): exit 0 ok, 1 warning, 2 critical, anything else unknown; the first line of its
 * output is the message, with performance data after a `|` left out. A plugin that cannot be
 * started, is killed by a signal or runs past `timeoutMs` (it is killed) is unknown, and the
 * message says why.
 */
export function runScriptCheck(
  script: string,
  args: readonly string[],
  timeoutMs = DEFAULT_SCRIPT_TIMEOUT_MS,
): Promise<{ state: CheckState; message: string }> {
  return new Promise((resolve) => {
    let out = '';
    let isTimedOut = false;
    // Its own process group, so the time limit reaches what the plugin started too: a shell
    // script killed alone leaves its `sleep` or `curl` holding the output pipe, and the result
    // would wait for it.
    const child = spawn(script, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
      detached: true,
    });
    const take = (b: Buffer) => {
      if (out.length < MAX_OUTPUT) out += b.toString('utf8');
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const timer = setTimeout(() => {
      isTimedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL'); // no group (gone already): the plugin itself
      }
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ state: 'unknown', message: `cannot run ${script}: ${err.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const first = out.split('\n')[0]?.split('|')[0]?.trim() ?? '';
      if (isTimedOut) {
        resolve({
          state: 'unknown',
          message: `${script} ran longer than ${timeoutMs / 1000} s and was stopped`,
        });
      } else if (code === null) {
        resolve({ state: 'unknown', message: `${script} was killed by ${signal}` });
      } else {
        const state: CheckState =
          code === 0 ? 'ok' : code === 1 ? 'warning' : code === 2 ? 'critical' : 'unknown';
        resolve({ state, message: first || `${script} exited with ${code} and said nothing` });
      }
    });
  });
}
