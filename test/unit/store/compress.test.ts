import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { constants, zstdCompressSync } from 'node:zlib';
import { isHindsightError } from '../../../src/core/index.ts';
import {
  CODEC_RAW,
  CODEC_ZSTD,
  compressChunk,
  decompressChunk,
  looksIncompressible,
  MAX_CHUNK_BYTES,
  MIN_COMPRESS_BYTES,
} from '../../../src/store/index.ts';

const text = Buffer.from(
  Array.from({ length: 2000 }, (_, i) => `line ${i}: the quick brown fox ${i * 7}\n`).join(''),
).subarray(0, 16384);

describe('compress', () => {
  it('round-trips compressible data through zstd', () => {
    const c = compressChunk(text);
    assert.equal(c.codec, CODEC_ZSTD);
    assert.ok(c.data.length < text.length / 2);
    assert.deepEqual(decompressChunk(c.codec, c.data, text.length), text);
  });

  it('stores random data raw', () => {
    const raw = randomBytes(16384);
    assert.equal(looksIncompressible(raw), true);
    const c = compressChunk(raw);
    assert.equal(c.codec, CODEC_RAW);
    assert.deepEqual(decompressChunk(c.codec, c.data, raw.length), raw);
  });

  it('stores raw when zstd saves less than 3% even if the sample looks compressible', () => {
    // Half zeros, half random: low sampled entropy, but zstd saves plenty, so zstd is used.
    const half = Buffer.concat([Buffer.alloc(8192), randomBytes(8192)]);
    assert.equal(compressChunk(half).codec, CODEC_ZSTD);
    // Small chunk below the sample size: zstd is tried and refused on random data.
    const small = randomBytes(1000);
    assert.equal(compressChunk(small).codec, CODEC_RAW);
  });

  it('stores a chunk below MIN_COMPRESS_BYTES raw without trying zstd, however compressible', () => {
    const tiny = Buffer.alloc(MIN_COMPRESS_BYTES - 1, 'a');
    const c = compressChunk(tiny);
    assert.equal(c.codec, CODEC_RAW);
    assert.equal(c.data, tiny, 'not copied');
    assert.equal(compressChunk(Buffer.alloc(MIN_COMPRESS_BYTES, 'a')).codec, CODEC_ZSTD);
  });

  it('refuses a chunk that decompresses beyond its declared length (bomb)', () => {
    const bomb = zstdCompressSync(Buffer.alloc(MAX_CHUNK_BYTES), {
      params: { [constants.ZSTD_c_compressionLevel]: 1 },
    });
    assert.ok(bomb.length < 1000);
    assert.throws(
      () => decompressChunk(CODEC_ZSTD, bomb, 4096),
      (err) => isHindsightError(err, 'E_CHUNK_CORRUPT'),
    );
    assert.throws(
      () => decompressChunk(CODEC_ZSTD, bomb, MAX_CHUNK_BYTES + 1),
      (err) => isHindsightError(err, 'E_CHUNK_CORRUPT'),
    );
  });

  it('refuses short output, garbage, wrong raw lengths and unknown codecs', () => {
    const c = compressChunk(text);
    assert.throws(
      () => decompressChunk(CODEC_ZSTD, c.data, text.length + 1),
      (e) => isHindsightError(e, 'E_CHUNK_CORRUPT'),
    );
    assert.throws(
      () => decompressChunk(CODEC_ZSTD, randomBytes(100), 100),
      (e) => isHindsightError(e, 'E_CHUNK_CORRUPT'),
    );
    assert.throws(
      () => decompressChunk(CODEC_RAW, text, text.length - 1),
      (e) => isHindsightError(e, 'E_CHUNK_CORRUPT'),
    );
    assert.throws(
      () => decompressChunk(7, text, text.length),
      (e) => isHindsightError(e, 'E_CHUNK_CORRUPT'),
    );
  });
});
