import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** HEAP_TRIM_MS is how often the agent looks at its heap. */
export const HEAP_TRIM_MS = 5_000;
/** HEAP_SLACK_BYTES is how much more than it uses the heap may hold before a collection is forced. */
export const HEAP_SLACK_BYTES = 64 * 1024 * 1024;

let collect: (() => void) | undefined;

/**
 * trimHeap runs a full garbage collection when V8 holds far more heap than it uses, and says
 * whether it did. Under a steady stream of short-lived objects (a first scan of a million
 * files, a burst of changes) V8 grows its old space and gives the pages back only once the
 * process is idle, which a busy agent never is: measured at a million files, 160 MiB of heap
 * held for 26 MiB used and an RSS of 449 MiB, 240 MiB right after one full collection
 * (docs/benchmarks.md, capture bursts). The memory kept then follows what is live, not how
 * long the agent has been busy. A collection of a heap this size takes some tens of ms.
 */
export function trimHeap(slackBytes = HEAP_SLACK_BYTES): boolean {
  // The young generation is left out: a full collection empties it but does not shrink it
  // (its size is capped at start instead, bin/hindsight).
  let held = 0;
  let used = 0;
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_name.startsWith('new_')) continue;
    held += s.physical_space_size;
    used += s.space_used_size;
  }
  if (held - used < slackBytes) return false;
  if (!collect) {
    // The one way to a full collection on demand: `gc`, exposed to contexts made after the flag.
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
  return true;
}
