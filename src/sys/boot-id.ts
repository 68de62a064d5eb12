import { readFileSync } from 'node:fs';

/**
 * bootId names the current boot of this machine (Linux: /proc/sys/kernel/random/boot_id), so
 * that a monotonic time saved by one process can be trusted by the next one of the same boot.
 * Elsewhere it returns a fresh value each call: every start is then treated as a new boot.
 */
export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return `unknown-${process.pid}-${Date.now()}`;
  }
}
