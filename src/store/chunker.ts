/**
 * Content-defined chunking with FastCDC (Xia et al., 2016/2020), normalized at level 2.
 * A cut point depends only on the bytes just before it, so an edit in the middle of a file
 * moves the boundaries of the chunks around the edit only; the rest are shared. The gear table
 * and the masks below are part of the on-disk and wire format in effect: two nodes that chunk
 * differently still work, but no longer share chunks. docs/pack-format.md says why these sizes.
 */

/** DEFAULT_MIN_CHUNK is the smallest chunk cut by content; shorter only at the end of a file. */
export const DEFAULT_MIN_CHUNK = 4 * 1024;
/** DEFAULT_AVG_CHUNK is the chunk size that normalized chunking aims at (a power of two). */
export const DEFAULT_AVG_CHUNK = 16 * 1024;
/** DEFAULT_MAX_CHUNK is the longest chunk the chunker cuts; a cut is forced there. */
export const DEFAULT_MAX_CHUNK = 64 * 1024;
/** MAX_CHUNK_BYTES is the hard bound on a chunk's raw length accepted from a peer or a pack. */
export const MAX_CHUNK_BYTES = 1024 * 1024;

/** ChunkerParams are the sizes and the masks derived from them; build with chunkerParams(). */
export interface ChunkerParams {
  readonly min: number;
  readonly avg: number;
  readonly max: number;
  /** Mask used before `avg` bytes: more bits, so cuts are rarer (normalization). */
  readonly maskS: number;
  /** Mask used after `avg` bytes: fewer bits, so a cut comes soon. */
  readonly maskL: number;
}

/** GEAR_SEED fixes the gear table; changing it changes every chunk boundary. */
const GEAR_SEED = 0x48534344; // 'HSCD'

/**
 * GEAR maps each byte value to a pseudo-random 32-bit word (splitmix32 from GEAR_SEED), and
 * GEAR_LS holds the same words shifted left by one, for the two-bytes-per-step loop.
 * Built once at load from a fixed seed: a constant, never written after.
 */
const [GEAR, GEAR_LS] = ((): [Int32Array, Int32Array] => {
  const gear = new Int32Array(256);
  const gearLs = new Int32Array(256);
  let state = GEAR_SEED | 0;
  for (let i = 0; i < 256; i++) {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    gear[i] = z | 0;
    gearLs[i] = (z << 1) | 0;
  }
  return [gear, gearLs];
})();

/**
 * maskOfBits returns `bits` one-bits in positions 30 down to 31-bits. High bits are used
 * because bit k of a gear hash depends on the last k+1 bytes only: the high bits see the
 * longest window. Bit 31 is left out so that the shifted check (mask << 1) of the
 * two-bytes-per-step loop keeps every bit.
 */
function maskOfBits(bits: number): number {
  return (((1 << bits) - 1) << (31 - bits)) | 0;
}

/**
 * chunkerParams validates chunk sizes and derives the normalization masks (level 2: the
 * average's bit count plus two before `avg`, minus two after it).
 */
export function chunkerParams(min: number, avg: number, max: number): ChunkerParams {
  const bits = Math.log2(avg);
  if (!Number.isInteger(bits) || bits < 6 || bits > 28) {
    throw new RangeError(`chunker average ${avg} must be a power of two between 64 and 2^28`);
  }
  if (!(Number.isInteger(min) && Number.isInteger(max) && min >= 1 && min <= avg && avg <= max)) {
    throw new RangeError(`chunker sizes must satisfy 1 <= min <= avg <= max (got ${min}/${avg}/${max})`);
  }
  if (max > MAX_CHUNK_BYTES) throw new RangeError(`chunker max ${max} exceeds ${MAX_CHUNK_BYTES}`);
  return Object.freeze({ min, avg, max, maskS: maskOfBits(bits + 2), maskL: maskOfBits(bits - 2) });
}

/** DEFAULT_CHUNKER_PARAMS are the sizes every node uses unless configured otherwise. */
export const DEFAULT_CHUNKER_PARAMS: ChunkerParams = chunkerParams(
  DEFAULT_MIN_CHUNK,
  DEFAULT_AVG_CHUNK,
  DEFAULT_MAX_CHUNK,
);

/**
 * findCut returns the length of the next chunk of `buf` that starts at `start`, looking no
 * further than `end`: at most `params.max`, and all of `end - start` when at most `min` bytes
 * remain. The caller must pass at least `max` bytes unless it is at the end of the data,
 * or the cut depends on how the data was split into reads.
 */
export function findCut(
  buf: Uint8Array,
  start: number,
  end: number,
  params: ChunkerParams = DEFAULT_CHUNKER_PARAMS,
): number {
  const n = Math.min(end - start, params.max);
  if (n <= params.min) return n;
  const normalEnd = start + Math.min(n, params.avg);
  const limit = start + n;
  let i = start + params.min;
  let h = 0;
  // Two bytes per step: h holds the hash after the first byte shifted left by one, so it is
  // tested against the mask shifted by one; adding the second byte's gear completes the step.
  let mask = params.maskS;
  let maskLs = mask << 1;
  while (i + 1 < normalEnd) {
    h = ((h << 2) + GEAR_LS[buf[i]]) | 0;
    if ((h & maskLs) === 0) return i + 1 - start;
    h = (h + GEAR[buf[i + 1]]) | 0;
    if ((h & mask) === 0) return i + 2 - start;
    i += 2;
  }
  if (i < normalEnd) {
    h = ((h << 1) + GEAR[buf[i]]) | 0;
    if ((h & mask) === 0) return i + 1 - start;
    i++;
  }
  mask = params.maskL;
  maskLs = mask << 1;
  while (i + 1 < limit) {
    h = ((h << 2) + GEAR_LS[buf[i]]) | 0;
    if ((h & maskLs) === 0) return i + 1 - start;
    h = (h + GEAR[buf[i + 1]]) | 0;
    if ((h & mask) === 0) return i + 2 - start;
    i += 2;
  }
  return n;
}

/** chunkLengths splits a whole in-memory buffer and returns the chunk lengths in order. */
export function chunkLengths(data: Uint8Array, params: ChunkerParams = DEFAULT_CHUNKER_PARAMS): number[] {
  const lengths: number[] = [];
  for (let at = 0; at < data.length; ) {
    const len = findCut(data, at, data.length, params);
    lengths.push(len);
    at += len;
  }
  return lengths;
}

/** ReadInto fills `buf[offset, offset+length)` from a source and resolves to the bytes read (0 at the end). */
export type ReadInto = (buf: Buffer, offset: number, length: number) => Promise<number>;

/** DEFAULT_READ_BLOCK is the read size of readChunks: large reads, few syscalls. */
export const DEFAULT_READ_BLOCK = 4 * 1024 * 1024;

/**
 * readChunks pulls a stream through one reusable buffer of `blockSize + max` bytes and yields
 * its chunks in order. Memory is bounded by that buffer whatever the stream's length. Each
 * yielded chunk is a view into the buffer, valid only until the generator resumes: hash it,
 * store it (copying), then ask for the next.
 */
export async function* readChunks(
  read: ReadInto,
  params: ChunkerParams = DEFAULT_CHUNKER_PARAMS,
  blockSize: number = DEFAULT_READ_BLOCK,
): AsyncGenerator<Buffer> {
  const buf = Buffer.allocUnsafe(blockSize + params.max);
  let start = 0;
  let end = 0;
  let isEof = false;
  for (;;) {
    if (!isEof && end - start < params.max) {
      // Move the undecided tail to the front: at most `max` bytes copied per block read.
      if (start > 0) {
        buf.copyWithin(0, start, end);
        end -= start;
        start = 0;
      }
      while (end < buf.length) {
        const got = await read(buf, end, buf.length - end);
        if (got === 0) {
          isEof = true;
          break;
        }
        end += got;
      }
    }
    if (start === end) return;
    while (end - start >= params.max || (isEof && start < end)) {
      const len = findCut(buf, start, end, params);
      yield buf.subarray(start, start + len);
      start += len;
    }
  }
}
