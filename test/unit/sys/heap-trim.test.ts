import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getHeapStatistics } from 'node:v8';
import { trimHeap } from '../../../src/sys/index.ts';

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
