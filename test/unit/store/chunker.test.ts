import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  chunkerParams,
  chunkLengths,
  DEFAULT_AVG_CHUNK,
  DEFAULT_MAX_CHUNK,
  DEFAULT_MIN_CHUNK,
  findCut,
  hashChunk,
  readChunks,
} from '../../../src/store/index.ts';

/** A seeded byte stream (xorshift32), so a failing size is reproducible. */
function seededBytes(n: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(n);
  let x = seed | 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
  }
  return buf;
}

function chunkHashes(data: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  for (const len of chunkLengths(data)) {
    out.push(hashChunk(data.subarray(at, at + len)).toString('hex'));
    at += len;
  }
  return out;
}

describe('chunker', () => {
  const data = seededBytes(8 * 1024 * 1024, 42);

  it('is deterministic and covers the input exactly', () => {
    const a = chunkLengths(data);
    const b = chunkLengths(Buffer.from(data));
    assert.deepEqual(a, b);
    assert.equal(
      a.reduce((s, n) => s + n, 0),
      data.length,
    );
  });

  it('keeps chunk sizes within min and max, and the average near the target', () => {
    const lengths = chunkLengths(data);
    for (const len of lengths.slice(0, -1)) {
      assert.ok(len >= DEFAULT_MIN_CHUNK && len <= DEFAULT_MAX_CHUNK, `chunk of ${len} bytes`);
    }
    const avg = data.length / lengths.length;
    // FastCDC's normalized average lands a little above the mask's target (min is skipped).
    assert.ok(avg > DEFAULT_AVG_CHUNK * 0.8 && avg < DEFAULT_AVG_CHUNK * 1.5, `average ${avg}`);
  });

  it('forces a cut at max and returns the rest when at most min bytes remain', () => {
    const zeros = Buffer.alloc(200_000);
    // A gear hash over zeros never hits the mask: every cut is forced.
    assert.deepEqual(chunkLengths(zeros).slice(0, 3), [
      DEFAULT_MAX_CHUNK,
      DEFAULT_MAX_CHUNK,
      DEFAULT_MAX_CHUNK,
    ]);
    assert.equal(findCut(data, 100, 100 + DEFAULT_MIN_CHUNK), DEFAULT_MIN_CHUNK);
    assert.equal(findCut(data, 5, 9), 4);
  });

  it('shares most chunks after an insertion in the middle', () => {
    const middle = data.length / 2;
    const edited = Buffer.concat([data.subarray(0, middle), seededBytes(1000, 7), data.subarray(middle)]);
    const before = new Set(chunkHashes(data));
    const after = chunkHashes(edited);
    const shared = after.filter((h) => before.has(h)).length;
    // The edited chunk and a few after it until the cut points fall in step again.
    assert.ok(after.length - shared <= 8, `${after.length - shared} of ${after.length} chunks changed`);
  });

  it('cuts the same whatever the read sizes of the stream', async () => {
    const expected = chunkLengths(data);
    let pos = 0;
    const read = async (buf: Buffer, offset: number, length: number) => {
      // Odd, varying read sizes: boundaries must not depend on them.
      const n = Math.min(length, 7777 + (pos % 5000), data.length - pos);
      data.copy(buf, offset, pos, pos + n);
      pos += n;
      return n;
    };
    const got: number[] = [];
    for await (const chunk of readChunks(read, undefined, 100_000)) got.push(chunk.length);
    assert.deepEqual(got, expected);
  });

  it('validates its parameters', () => {
    assert.throws(() => chunkerParams(1024, 3000, 8192), RangeError);
    assert.throws(() => chunkerParams(8192, 4096, 16384), RangeError);
    assert.throws(() => chunkerParams(1024, 4096, 4 * 1024 * 1024), RangeError);
    const small = chunkerParams(256, 1024, 4096);
    const lengths = chunkLengths(data.subarray(0, 1 << 20), small);
    const avg = (1 << 20) / lengths.length;
    assert.ok(avg > 800 && avg < 1600, `average ${avg}`);
  });
});
