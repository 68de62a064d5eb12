import { HASH_BYTES } from '../core/index.ts';

/**
 * ChunkReferences is one holder of chunk references that garbage collection must respect: the
 * outbox, the timeline's versions, the quarantine, and (next) snapshots and backups that pin
 * moments. Each stage that keeps chunk lists in its tables provides one; the daemon hands the
 * whole list to collection, so a new holder is one more entry, not a change to the collector.
 */
export interface ChunkReferences {
  /** name says whose references these are, for reports. */
  readonly name: string;
  /** chunkLists yields every chunk list (concatenated hashes) it references right now. */
  chunkLists(): Iterable<Uint8Array>;
}

/**
 * liveChunkSet reads every holder's references into one test for "something references this
 * chunk". Read it and pass it to ChunkStore.collect in the same tick, so nothing commits between.
 */
export function liveChunkSet(holders: readonly ChunkReferences[]): (hash: Buffer) => boolean {
  const live = new Set<string>();
  for (const holder of holders) {
    for (const list of holder.chunkLists()) {
      const buf = Buffer.from(list.buffer, list.byteOffset, list.byteLength);
      for (let i = 0; i < buf.length; i += HASH_BYTES) live.add(buf.toString('latin1', i, i + HASH_BYTES));
    }
  }
  return (hash) => live.has(hash.toString('latin1'));
}
