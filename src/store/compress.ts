import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { HindsightError } from '../core/index.ts';
import { CODEC_RAW, CODEC_ZSTD, type Codec } from './chunk-store.ts';
import { MAX_CHUNK_BYTES } from './chunker.ts';

/** ZSTD_LEVEL is the compression level of chunks: level 1 is the fastest that still pays. */
export const ZSTD_LEVEL = 1;

/** MIN_SAVING is the share a compressed chunk must save to be stored compressed (else raw). */
export const MIN_SAVING = 0.03;

/**
 * SKIP_ENTROPY_BITS is the sampled byte entropy (bits per byte) above which a chunk is stored
 * raw without trying zstd. Uniformly random bytes sample at ~7.95 bits (the estimate is biased
 * low by ~0.05 for 4,096 samples); at 7.8 bits a Huffman coder saves under 3%. A chunk that
 * repeats a random block inside itself escapes this test and is stored raw; that costs space,
 * never correctness. Trying zstd costs ~60 µs per 16 KiB chunk here, the test ~3 µs.
 */
export const SKIP_ENTROPY_BITS = 7.8;

/**
 * MIN_COMPRESS_BYTES is the size below which a chunk is stored raw without trying zstd. Each
 * `zstdCompressSync` makes a compression context of its own, ~58 µs and native memory that is
 * freed only when V8 collects: 20,000 files of 48 bytes took 1.15 s and grew the RSS by 45 MiB
 * (malloc then held 54 MiB free), for savings of a few bytes each (a zstd frame alone is ~10).
 */
export const MIN_COMPRESS_BYTES = 512;

/** ENTROPY_SAMPLES is how many bytes (spread evenly over the chunk) the entropy test reads. */
const ENTROPY_SAMPLES = 4096;

/** CompressedChunk is a chunk's stored form: its codec and the bytes to keep. */
export interface CompressedChunk {
  codec: Codec;
  data: Buffer;
}

/**
 * looksIncompressible estimates the byte entropy of `raw` from evenly spaced samples and tells
 * whether it is so high that zstd would not save MIN_SAVING (already compressed or encrypted data).
 */
export function looksIncompressible(raw: Uint8Array): boolean {
  if (raw.length < ENTROPY_SAMPLES) return false;
  const counts = new Uint32Array(256);
  const step = Math.floor(raw.length / ENTROPY_SAMPLES);
  for (let i = 0, at = 0; i < ENTROPY_SAMPLES; i++, at += step) counts[raw[at]]++;
  let entropy = 0;
  for (let b = 0; b < 256; b++) {
    const c = counts[b];
    if (c !== 0) entropy -= c * Math.log2(c / ENTROPY_SAMPLES);
  }
  return entropy / ENTROPY_SAMPLES > SKIP_ENTROPY_BITS;
}

/**
 * compressChunk returns the stored form of raw chunk bytes: zstd level 1 when the chunk has at
 * least MIN_COMPRESS_BYTES and zstd saves at least MIN_SAVING, else CODEC_RAW with `raw` itself (not copied: a caller that keeps the
 * result beyond the life of `raw` copies it).
 */
export function compressChunk(raw: Buffer): CompressedChunk {
  if (raw.length < MIN_COMPRESS_BYTES || looksIncompressible(raw)) return { codec: CODEC_RAW, data: raw };
  const packed = zstdCompressSync(raw, {
    pledgedSrcSize: raw.length,
    params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL },
  });
  if (packed.length <= raw.length * (1 - MIN_SAVING)) return { codec: CODEC_ZSTD, data: packed };
  return { codec: CODEC_RAW, data: raw };
}

/**
 * decompressChunk returns the raw bytes of a stored chunk. The stored bytes may come from a
 * peer or a damaged disk: zstd output is capped at `rawLen` (≤ MAX_CHUNK_BYTES) before it is
 * allocated, so a decompression bomb fails instead of filling memory, and a result of any other
 * length than `rawLen` is refused with E_CHUNK_CORRUPT. A raw chunk is returned as is.
 */
export function decompressChunk(codec: number, data: Buffer, rawLen: number): Buffer {
  if (!Number.isInteger(rawLen) || rawLen < 0 || rawLen > MAX_CHUNK_BYTES) {
    throw new HindsightError('E_CHUNK_CORRUPT', `chunk declares raw length ${rawLen}`, {
      hint: `a chunk is at most ${MAX_CHUNK_BYTES} bytes; the sender or the pack is damaged`,
    });
  }
  if (codec === CODEC_RAW) {
    if (data.length !== rawLen) {
      throw new HindsightError('E_CHUNK_CORRUPT', `raw chunk has ${data.length} bytes, declares ${rawLen}`);
    }
    return data;
  }
  if (codec !== CODEC_ZSTD) throw new HindsightError('E_CHUNK_CORRUPT', `unknown chunk codec ${codec}`);
  let raw: Buffer;
  try {
    // maxOutputLength must be at least 1; an empty chunk is never stored compressed anyway.
    raw = zstdDecompressSync(data, { maxOutputLength: Math.max(1, rawLen) });
  } catch (err) {
    throw new HindsightError('E_CHUNK_CORRUPT', `cannot decompress chunk declared as ${rawLen} bytes`, {
      cause: err,
    });
  }
  if (raw.length !== rawLen) {
    throw new HindsightError(
      'E_CHUNK_CORRUPT',
      `chunk decompresses to ${raw.length} bytes, declares ${rawLen}`,
    );
  }
  return raw;
}
