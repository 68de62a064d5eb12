import { createRequire } from 'node:module';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** HEAP_TRIM_MS is how often the agent looks at its heap. */
export const HEAP_TRIM_MS = 5_000;
/** HEAP_SLACK_BYTES is how much more than it uses the heap may hold before a collection is forced. */
export const HEAP_SLACK_BYTES = 32 * 1024 * 1024;

/** MALLOC_SLACK_BYTES is how much free memory malloc may hold before it is asked to give pages back. */
export const MALLOC_SLACK_BYTES = 16 * 1024 * 1024;

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

interface MallocAddon {
  freeBytes(): number;
  trim(): boolean;
}

const MALLOC_ADDON = new URL('../../native/build/malloc.node', import.meta.url).pathname;
let mallocAddon: MallocAddon | null | undefined;

/** mallocFreeBytes is the free memory malloc holds in its arenas, or undefined without the addon (native/malloc.c). */
export function mallocFreeBytes(): number | undefined {
  if (mallocAddon === undefined) {
    try {
      mallocAddon = createRequire(import.meta.url)(MALLOC_ADDON) as MallocAddon;
    } catch {
      mallocAddon = null; // not built (no compiler at install): V8's trim alone
    }
  }
  return mallocAddon?.freeBytes();
}

/**
 * trimMalloc gives malloc's free pages back to the kernel when it holds more than `slackBytes`
 * free, and says whether it did. V8 frees a Buffer's memory only when it collects, thousands of
 * blocks at once, scattered between live ones; malloc can shrink its heap only from the top, so
 * without this the pages stay resident: at a million files, 85 MiB in the primary's arena, 21 MiB
 * after one trim. A trim of an arena that size takes about a millisecond.
 */
export function trimMalloc(slackBytes = MALLOC_SLACK_BYTES): boolean {
  const free = mallocFreeBytes();
  if (free === undefined || free < slackBytes) return false;
  return mallocAddon?.trim() ?? false;
}

/** PEAK_STEP_BYTES is how far past the last one a new RSS peak must go to be told. */
const PEAK_STEP_BYTES = 16 * 1024 * 1024;

/**
 * MemoryPeaks tells each new peak of the process's RSS (at least PEAK_STEP_BYTES past the last
 * one told) with what held the memory at that moment: V8's spaces, Buffers, malloc's free
 * memory. One log line per peak, so that a long run says where its high-water mark came from.
 */
export class MemoryPeaks {
  #told = 0;

  /** observe returns the breakdown when the RSS is at a new peak, else undefined. */
  observe(): Record<string, number> | undefined {
    const usage = process.memoryUsage();
    if (usage.rss < this.#told + PEAK_STEP_BYTES) return undefined;
    this.#told = usage.rss;
    const mib = (n: number) => Math.round(n / 1024 / 102.4) / 10;
    const out: Record<string, number> = {
      rssMiB: mib(usage.rss),
      heapTotalMiB: mib(usage.heapTotal),
      heapUsedMiB: mib(usage.heapUsed),
      externalMiB: mib(usage.external),
      arrayBuffersMiB: mib(usage.arrayBuffers),
    };
    for (const s of getHeapSpaceStatistics()) out[`${s.space_name}MiB`] = mib(s.physical_space_size);
    const free = mallocFreeBytes();
    if (free !== undefined) out.mallocFreeMiB = mib(free);
    return out;
  }
}
