import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { TestNode } from './test-node.ts';

/** Resources is what an agent holds: resident memory (KiB) and open descriptors. */
export interface Resources {
  rssKiB: number;
  fds: number;
  /** What the descriptors point at, for the message when they grew. */
  fdTargets: string[];
}

/** Bounds on what an agent may gain across one fault: leaks show as growth far beyond these. */
export const MAX_FD_GROWTH = 16;
export const MAX_RSS_GROWTH_KIB = 256 * 1024;

/** resources reads an agent's resident memory and descriptors from /proc. */
export function resources(node: TestNode): Resources {
  const pid = node.pid;
  if (pid === undefined) throw new Error(`${node.name} is not running`);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const fdTargets = readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return '(closed)';
    }
  });
  return { rssKiB, fds: fdTargets.length, fdTargets };
}

/** isWithinBounds tells whether `after` gained no more than the bounds over `before`. */
export function isWithinBounds(before: Resources, after: Resources): boolean {
  return after.fds <= before.fds + MAX_FD_GROWTH && after.rssKiB <= before.rssKiB + MAX_RSS_GROWTH_KIB;
}

/** assertWithin checks `after` against `before` plus the bounds, naming what the descriptors grew by. */
export function assertWithin(what: string, before: Resources, after: Resources): void {
  assert.ok(
    after.fds <= before.fds + MAX_FD_GROWTH,
    `${what}: descriptors ${before.fds} → ${after.fds} (${grownTargets(before, after)})`,
  );
  assert.ok(
    after.rssKiB <= before.rssKiB + MAX_RSS_GROWTH_KIB,
    `${what}: memory ${before.rssKiB} → ${after.rssKiB} KiB`,
  );
}

/** assertBounded checks that `node` holds no more than `before` plus the bounds. */
export function assertBounded(node: TestNode, before: Resources, what: string): Resources {
  const after = resources(node);
  assertWithin(`${what}: ${node.name}`, before, after);
  return after;
}

/** grownTargets lists what `after` holds more of than `before`, e.g. "pipe: +3". */
function grownTargets(before: Resources, after: Resources): string {
  const count = (targets: string[]) => {
    const m = new Map<string, number>();
    for (const t of targets) {
      const kind = t.replace(/\[\d+\]$/, '');
      m.set(kind, (m.get(kind) ?? 0) + 1);
    }
    return m;
  };
  const [a, b] = [count(before.fdTargets), count(after.fdTargets)];
  return [...b]
    .filter(([k, n]) => n > (a.get(k) ?? 0))
    .map(([k, n]) => `${k}: +${n - (a.get(k) ?? 0)}`)
    .join(', ');
}
