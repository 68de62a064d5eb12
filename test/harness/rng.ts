import { createCipheriv, createHash } from 'node:crypto';

/**
 * Rng is a seeded pseudo-random generator for tests and benchmarks: the same seed gives the
 * same tree, the same edits and the same bytes, so a failing seed can be replayed.
 */
export interface Rng {
  readonly seed: number;
  /** next returns a float in [0, 1). */
  next(): number;
  /** int returns an integer in [min, max] (both inclusive). */
  int(min: number, max: number): number;
  /** pick returns a random element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** chance returns true with probability p. */
  chance(p: number): boolean;
  /** byteStream returns a generator of `size` bytes in blocks of at most `blockSize`. */
  byteStream(size: number, blockSize?: number): Generator<Buffer>;
  /** bytes returns `size` pseudo-random bytes. */
  bytes(size: number): Buffer;
}

const DEFAULT_BLOCK = 4 * 1024 * 1024;

/**
 * createRng returns an Rng seeded with `seed`: mulberry32 for numbers, and an AES-128-CTR
 * keystream keyed from the seed and a counter for bytes, because generating a 1 GiB file in
 * JavaScript number by number would take seconds where the cipher takes a fraction of one.
 */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  let streams = 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  function* byteStream(size: number, blockSize = DEFAULT_BLOCK): Generator<Buffer> {
    const key = createHash('sha256').update(`${seed}:${streams++}:${next()}`).digest();
    const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
    const zeros = Buffer.alloc(Math.min(blockSize, Math.max(size, 1)));
    for (let left = size; left > 0; left -= zeros.length) {
      const out = cipher.update(zeros);
      yield left >= out.length ? out : out.subarray(0, left);
    }
  }
  return {
    seed,
    next,
    int,
    pick: (items) => items[int(0, items.length - 1)],
    chance: (p) => next() < p,
    byteStream,
    bytes: (size) => Buffer.concat([...byteStream(size)], size),
  };
}

/** seedFromEnv returns $HINDSIGHT_SEED when set, else a fresh seed, so a run can be repeated. */
export function seedFromEnv(): number {
  const fromEnv = process.env.HINDSIGHT_SEED;
  if (fromEnv !== undefined && fromEnv !== '') return Number(fromEnv) >>> 0;
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}
