import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Change } from '../../../src/core/index.ts';
import { fitFrame } from '../../../src/link/index.ts';

const put = (seq: number, chunks: number): Change => ({
  volume: 'v',
  epoch: 1,
  seq,
  path: `f${seq}`,
  kind: 'put',
  mode: 0o644,
  mtimeMs: 0,
  size: 0,
  chunks: Buffer.alloc(chunks * 32),
  target: null,
  capturedAt: 0,
});

test('a batch of large files is cut so its chunk lists fit one frame (regression: the frame limit was exceeded forever)', () => {
  // 20 files of 4 GiB at 16 KiB chunks: 8 MiB of hashes each.
  const batch = Array.from({ length: 20 }, (_, i) => put(i + 1, 262_144));
  const fitted = fitFrame(batch);
  assert.equal(fitted.length, 2);
  assert.deepEqual(fitFrame([put(1, 1_000_000)]).length, 1, 'one change always goes');
  assert.equal(fitFrame(Array.from({ length: 500 }, (_, i) => put(i + 1, 10))).length, 500);
});
