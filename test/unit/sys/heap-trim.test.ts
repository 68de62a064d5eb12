import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getHeapStatistics } from 'node:v8';
import { MemoryPeaks, mallocFreeBytes, trimHeap, trimMalloc } from '../../../src/sys/index.ts';

test('trimHeap runs a full collection past its slack, and leaves the heap alone within it', () => {
  // Objects that live long enough to reach the old space, then die: the heap grows and keeps them.
  let batch: { n: number; text: string }[] = [];
  const held: unknown[] = [];
  for (let i = 0; i < 3_000_000; i++) {
    batch.push({ n: i, text: `entry ${i}` });
    if (batch.length === 200_000) {
      held.push(batch);
      if (held.length > 2) held.shift();
      batch = [];
    }
  }
  held.length = 0;
  batch = [];
  // Dead objects count as used until a collection finds them; a slack of 0 forces one.
  const before = getHeapStatistics();
  assert.equal(trimHeap(0), true);
  const after = getHeapStatistics();
  assert.ok(
    after.used_heap_size < before.used_heap_size,
    `used ${before.used_heap_size} → ${after.used_heap_size}: the garbage was collected`,
  );
  assert.equal(trimHeap(1024 * 1024 * 1024), false, 'nothing to do within a generous slack');
});

test('trimMalloc gives back the free pages that dead Buffers leave between live ones', async (t) => {
  if (mallocFreeBytes() === undefined) {
    // CI builds the addon (.ci/run checks it); a laptop without a compiler may lack it.
    if (process.env.CI) assert.fail('native/build/malloc.node is missing: run npm run build:native');
    t.skip('MISSING native/build/malloc.node (no C compiler at npm install): trimMalloc does nothing');
    return;
  }
  // 64 KiB Buffers come from malloc's arena (below its mmap threshold). Keeping every eighth
  // alive leaves the freed ones scattered: free() cannot shrink the arena from its top.
  const kept: Buffer[] = [];
  let all: Buffer[] = [];
  for (let i = 0; i < 3_000; i++) {
    const b = Buffer.alloc(64 * 1024, i);
    all.push(b);
    if (i % 8 === 0) kept.push(b);
  }
  all = [];
  trimHeap(0); // V8 frees the dead Buffers' memory only when it collects, and then on a thread of its own
  let free = mallocFreeBytes() ?? 0;
  for (let waited = 0; free < 100 * 1024 * 1024 && waited < 10_000; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    free = mallocFreeBytes() ?? 0;
  }
  assert.ok(free >= 100 * 1024 * 1024, `malloc holds ${free} bytes free`);
  const rssBefore = process.memoryUsage().rss;
  assert.equal(trimMalloc(1024 * 1024 * 1024), false, 'nothing to do within a generous slack');
  assert.equal(trimMalloc(0), true);
  const rssAfter = process.memoryUsage().rss;
  assert.ok(
    rssBefore - rssAfter >= 64 * 1024 * 1024,
    `RSS ${rssBefore} → ${rssAfter}: the free pages went back to the kernel`,
  );
  assert.equal(kept.length, 375); // still alive, and still intact:
  assert.equal(kept[1][0], 8);
});

test('MemoryPeaks tells a new RSS peak with what held it, and only a peak', () => {
  const peaks = new MemoryPeaks();
  const first = peaks.observe();
  assert.ok(first, 'the first look is a peak');
  for (const key of ['rssMiB', 'heapUsedMiB', 'arrayBuffersMiB', 'old_spaceMiB', 'new_spaceMiB'])
    assert.equal(typeof first[key], 'number', key);
  assert.equal(peaks.observe(), undefined, 'no new peak without growth');
  const held = Buffer.alloc(48 * 1024 * 1024, 1); // touched: resident
  const second = peaks.observe();
  assert.ok(second && second.rssMiB >= first.rssMiB + 16, `${first.rssMiB} → ${second?.rssMiB} MiB`);
  assert.ok(second.arrayBuffersMiB >= 48, 'the Buffer is among what held it');
  assert.equal(held[0], 1);
});
