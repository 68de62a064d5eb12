/**
 * The change model: one captured modification of one path of a volume.
 *
 * `put` carries the whole new content as a list of chunk hashes (concatenated 32-byte BLAKE3
 * digests); `delete` removes one path (a directory delete is expanded by capture into deletes
 * of every path beneath it, deepest first, so every path has its own history); `mkdir` and
 * `symlink` create; `meta` changes mode or mtime only.
 */
export type ChangeKind = 'put' | 'delete' | 'mkdir' | 'symlink' | 'meta';

/** CHANGE_KINDS lists every ChangeKind, for validation of input from peers. */
export const CHANGE_KINDS: readonly ChangeKind[] = ['put', 'delete', 'mkdir', 'symlink', 'meta'];

/** HASH_BYTES is the length of a chunk hash (BLAKE3-256). */
export const HASH_BYTES = 32;

/** Change is one captured modification, as stored in the outbox and sent on the wire. */
export interface Change {
  volume: string;
  epoch: number;
  seq: number;
  path: string;
  kind: ChangeKind;
  /** Permission bits (mode & 0o7777); 0 for delete. */
  mode: number;
  /** Modification time in milliseconds since the epoch (production wall clock). */
  mtimeMs: number;
  /** Size in bytes of the content (put), or 0. */
  size: number;
  /** Concatenated chunk hashes for `put`, else null. */
  chunks: Buffer | null;
  /** Link target verbatim for `symlink`, else null. */
  target: string | null;
  /** When the primary captured the change (its wall clock, ms). */
  capturedAt: number;
}

/** chunkCount returns how many chunk hashes a change's content list holds. */
export function chunkCount(change: Pick<Change, 'chunks'>): number {
  return change.chunks ? change.chunks.length / HASH_BYTES : 0;
}

/** chunkHashAt returns the i-th chunk hash of a content list (a view, not a copy). */
export function chunkHashAt(chunks: Buffer, i: number): Buffer {
  return chunks.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);
}
