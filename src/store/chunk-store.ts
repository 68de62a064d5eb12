import type { ChunkReferences } from './chunk-references.ts';
import type { ReadWindow } from './pack-file.ts';

/**
 * The chunk store contract. Chunks are content-defined pieces of file data addressed by their
 * BLAKE3-256 hash, stored compressed (zstd) or raw in append-only packs; the index of where
 * each chunk lives is in the catalog (`chunks` table).
 *
 * Durability order (the invariant every caller relies on):
 *   1. `putRaw` / `putStored` append bytes to the open pack and remember the index rows as
 *      *pending*; pending chunks already count for `has`/`missing`/`read*` within this process.
 *   2. `sync()` writes and fsyncs the pack data of every pending chunk.
 *   3. `commitPending()` inserts the pending index rows; the caller runs it inside the same
 *      catalog transaction as the rows that reference the chunks (outbox changes, versions).
 * A crash between 2 and 3 leaves unreferenced bytes in a pack (harmless; `verify` reports
 * them and a later GC reclaims them); a crash before 2 leaves nothing that anything points at.
 */
export type Codec = 0 | 1;
/** CODEC_RAW stores the bytes as they are (used when compression does not pay). */
export const CODEC_RAW: Codec = 0;
/** CODEC_ZSTD stores the bytes compressed with zstd. */
export const CODEC_ZSTD: Codec = 1;

/** StoredChunk is a chunk as kept in a pack and as sent on the wire: possibly compressed. */
export interface StoredChunk {
  hash: Buffer;
  codec: Codec;
  rawLen: number;
  data: Buffer;
}

/** VerifyReport is the outcome of re-reading every chunk of the store. */
export interface VerifyReport {
  chunks: number;
  bytes: number;
  /** Hashes (hex) whose bytes are missing, unreadable or hash to something else. */
  bad: string[];
}

/** CollectReport is what one garbage collection of the store removed. */
export interface CollectReport {
  chunksDropped: number;
  /** Bytes of dropped records; reclaimed on disk once their packs are deleted or rewritten. */
  bytesDropped: number;
  packsDeleted: number;
  packsRewritten: number;
}

/** ChunkStore stores and returns chunks by hash. One instance per state directory and process. */
export interface ChunkStore {
  /** has tells whether the chunk is stored (committed or pending). */
  has(hash: Buffer): boolean;
  /** missing returns the hashes of `hashes` that are not stored, without duplicates, in order. */
  missing(hashes: Buffer[]): Buffer[];
  /**
   * putRaw stores raw chunk bytes whose hash the caller computed; compresses when it pays.
   * Idempotent: a chunk already stored is not written again. Returns true if it was new.
   */
  putRaw(hash: Buffer, raw: Buffer): boolean;
  /**
   * putStored stores a chunk received in stored form (from a peer). It is untrusted: the bytes
   * are decompressed with an output limit of `rawLen` (≤ MAX_CHUNK_BYTES) and re-hashed;
   * a mismatch throws E_CHUNK_CORRUPT and stores nothing. Returns true if it was new.
   */
  putStored(chunk: StoredChunk): boolean;
  /** sync writes and fsyncs the pack data of all pending chunks. */
  sync(): Promise<void>;
  /** commitPending inserts the index rows of synced pending chunks; call inside a transaction. */
  commitPending(): void;
  /** readRaw returns the raw bytes of a stored chunk; throws E_CHUNK_MISSING if unknown. */
  readRaw(hash: Buffer): Buffer;
  /**
   * readStored returns a chunk in stored form, for sending without recompressing; `window`
   * serves a run of reads that follow one another through the packs (a backup) with few calls.
   */
  readStored(hash: Buffer, window?: ReadWindow): StoredChunk;
  /** verify re-reads and re-hashes every committed chunk. */
  verify(): Promise<VerifyReport>;
  /** collect removes chunks no holder in `references` lists and reclaims their space (see PackStore). */
  collect(references: readonly ChunkReferences[], rewriteBelow?: number): Promise<CollectReport>;
  /** close syncs and closes open packs. */
  close(): Promise<void>;
}
