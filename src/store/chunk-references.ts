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
