import { blake3 } from '@napi-rs/blake-hash';
import { HASH_BYTES, HindsightError } from '../core/index.ts';

/**
 * hashChunk returns the address of a chunk: its BLAKE3-256 hash, 32 bytes. BLAKE3 through the
 * native `@napi-rs/blake-hash` runs at ~7 GB/s here, so hashing never limits the data path and
 * every read can afford to re-check what it returns.
 */
export function hashChunk(data: Uint8Array): Buffer {
  return blake3(data);
}

/** hashKey turns a hash into a Map key; latin1 maps each byte to one char, so keys are exact. */
export function hashKey(hash: Buffer): string {
  return hash.toString('latin1');
}

/** checkHashLength refuses a chunk address that is not HASH_BYTES long (E_CHUNK_CORRUPT). */
export function checkHashLength(hash: Buffer): void {
  if (hash.length !== HASH_BYTES) {
    throw new HindsightError('E_CHUNK_CORRUPT', `chunk hash has ${hash.length} bytes, not ${HASH_BYTES}`);
  }
}
