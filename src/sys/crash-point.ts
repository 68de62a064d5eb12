/** CRASH_AT_ENV names the variable that makes a process kill itself at one named step (tests only). */
export const CRASH_AT_ENV = 'HINDSIGHT_CRASH_AT';

const armed = process.env[CRASH_AT_ENV];

/**
 * crashPoint kills this process with SIGKILL when HINDSIGHT_CRASH_AT names this point: the
 * crash tests' way to stop a process exactly between two steps of a multi-step change, so the
 * recovery of every step boundary is tested rather than hoped for. Names are listed in
 * docs/testing.md. Without the variable it costs one comparison.
 */
export function crashPoint(name: string): void {
  if (armed === name) process.kill(process.pid, 'SIGKILL');
}
