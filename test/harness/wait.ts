import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import { diffListings, type TreeOptions, treeHash, treeListing } from './tree-hash.ts';

/** WaitOptions bound a poll: how long in total, how often, and what is awaited (for the error). */
export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  what?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_INTERVAL_MS = 100;

/**
 * waitFor polls `fn` until it returns a truthy value and returns that value, or throws after
 * `timeoutMs` with the last value or error it saw, so a failing test says what it was waiting
 * for and how far it got. Errors thrown by `fn` count as "not yet".
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const deadline = performance.now() + timeoutMs;
  let last: { value?: unknown; error?: unknown } = {};
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (performance.now() >= deadline) {
      const seen =
        'error' in last ? `last error: ${inspect(last.error)}` : `last value: ${inspect(last.value)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'condition'}; ${seen}`);
    }
    await sleep(intervalMs);
  }
}

/** ConvergeOptions bound waitConverged and choose what both trees leave out. */
export interface ConvergeOptions extends TreeOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** what else the error should tell when the trees do not converge, e.g. the nodes' positions (TestNode.describe). */
  explain?: () => Promise<string>;
}

/** DIFF_LINES bounds the listing diff of a failure message: its head says enough, the rest buries the cause. */
const DIFF_LINES = 20;

/**
 * waitConverged waits until the tree hash of `mirrorDir` equals that of `primaryDir` and returns
 * the hash; on timeout it throws with a diff of the two listings ('-' missing on the mirror,
 * '+' extra on the mirror, '~' different).
 */
export async function waitConverged(
  primaryDir: string,
  mirrorDir: string,
  options: ConvergeOptions = {},
): Promise<string> {
  const tree = { exclude: options.exclude };
  try {
    return await waitFor(
      async () => {
        const [a, b] = await Promise.all([treeHash(primaryDir, tree), treeHash(mirrorDir, tree)]);
        return a === b ? a : undefined;
      },
      {
        timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        intervalMs: options.intervalMs ?? 250,
        what: `${mirrorDir} to equal ${primaryDir}`,
      },
    );
  } catch (err) {
    const diff = await listingDiff(primaryDir, mirrorDir, tree).catch((e: unknown) => `(no listing: ${e})`);
    const state = options.explain
      ? `\nstate when it gave up:\n${await options.explain().catch((e: unknown) => `(none: ${e})`)}`
      : '';
    throw new Error(`${(err as Error).message}${state}\ndifferences (primary → mirror):\n${diff}`, {
      cause: err,
    });
  }
}

async function listingDiff(primaryDir: string, mirrorDir: string, tree: TreeOptions): Promise<string> {
  const [a, b] = await Promise.all([treeListing(primaryDir, tree), treeListing(mirrorDir, tree)]);
  return diffListings(a, b, DIFF_LINES) || '(none now: the trees converged just after the deadline)';
}

/**
 * withDeadline resolves like `promise`, or rejects after `ms` with a message naming `what`,
 * so a stuck step becomes a failure instead of a hang.
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const ac = new AbortController();
  const timer = sleep(ms, undefined, { signal: ac.signal }).then(
    () => {
      throw new Error(`${what} did not finish within ${ms} ms`);
    },
    () => undefined as never,
  );
  try {
    return await Promise.race([promise, timer]);
  } finally {
    ac.abort();
  }
}
