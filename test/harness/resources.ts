import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import type { TestNode } from './test-node.ts';

/** Resources is what an agent holds: resident memory (KiB) and open descriptors. */
export interface Resources {
  rssKiB: number;
  fds: number;
}

/** Bounds on what an agent may gain across one fault: leaks show as growth far beyond these. */
export const MAX_FD_GROWTH = 16;
export const MAX_RSS_GROWTH_KIB = 256 * 1024;

/** resources reads an agent's resident memory and descriptor count from /proc. */
export function resources(node: TestNode): Resources {
  const pid = node.pid;
  if (pid === undefined) throw new Error(`${node.name} is not running`);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { rssKiB, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** assertBounded checks that `node` holds no more than `before` plus the bounds. */
export function assertBounded(node: TestNode, before: Resources, what: string): Resources {
  const after = resources(node);
  assert.ok(
    after.fds <= before.fds + MAX_FD_GROWTH,
    `${what}: ${node.name}'s descriptors ${before.fds} → ${after.fds}`,
  );
  assert.ok(
    after.rssKiB <= before.rssKiB + MAX_RSS_GROWTH_KIB,
    `${what}: ${node.name}'s memory ${before.rssKiB} → ${after.rssKiB} KiB`,
  );
  return after;
}
