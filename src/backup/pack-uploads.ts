import { createHash } from 'node:crypto';
import type { RepoKey } from './repo-key.ts';
import type { Tier } from './tier.ts';

/** PACK_TARGET_BYTES is the size at which a pack is closed and written. */
export const PACK_TARGET_BYTES = 8 * 1024 * 1024;
/**
 * UPLOADS_AHEAD is how many closed packs may wait for the tier while the next one is filled:
 * sealing goes on while a pack is written and fsynced, and memory stays bounded (about
 * (UPLOADS_AHEAD + 1) × PACK_TARGET_BYTES).
 */
const UPLOADS_AHEAD = 2;

/** IndexedChunk is where a chunk went: `[chunkId, pack name, offset, length]`. */
export type IndexedChunk = [string, string, number, number];

/**
 * PackUploads fills packs with sealed chunks and writes each closed pack, then its index, to the
 * tier, one pack after another but behind the filling (docs/backup-format.md: a pack before its
 * index). `onIndexed` is told the chunks of a pack once its index is written, never before: a
 * chunk is known to the repository only when a reader can find it. After a failed write no
 * later pack is written, and `drain` (or the next `add` that must wait) throws the failure.
 */
export class PackUploads {
  readonly #tier: Tier;
  readonly #key: RepoKey;
  readonly #onIndexed: (chunks: IndexedChunk[]) => void;
  #parts: Buffer[] = [];
  #entries: [string, number, number][] = [];
  #bytes = 0;
  /** Chunk ids in the open pack or in packs on their way: not indexed yet, but not to be sealed again. */
  readonly #unindexed = new Set<string>();
  #tail: Promise<void> = Promise.resolve();
  readonly #inFlight: Promise<void>[] = [];

  constructor(tier: Tier, key: RepoKey, onIndexed: (chunks: IndexedChunk[]) => void) {
    this.#tier = tier;
    this.#key = key;
    this.#onIndexed = onIndexed;
  }

  /** has says whether chunk `id` was added and is not yet indexed. */
  has(id: string): boolean {
    return this.#unindexed.has(id);
  }

  /** add puts sealed chunk `id` into the open pack; a full pack is closed and queued for writing. */
  async add(id: string, sealed: Buffer): Promise<void> {
    this.#entries.push([id, this.#bytes, sealed.length]);
    this.#unindexed.add(id);
    this.#parts.push(sealed);
    this.#bytes += sealed.length;
    if (this.#bytes >= PACK_TARGET_BYTES) await this.#close();
  }

  /** drain closes the open pack and resolves once every pack and its index are written. */
  async drain(): Promise<void> {
    await this.#close();
    while (this.#inFlight.length > 0) await this.#inFlight.shift();
  }

  async #close(): Promise<void> {
    if (this.#entries.length === 0) return;
    const parts = this.#parts;
    const entries = this.#entries;
    this.#parts = [];
    this.#entries = [];
    this.#bytes = 0;
    // Chained: a pack starts only once the one before it (and its index) is written, and a
    // failure stops every later one.
    const run = this.#tail.then(() => this.#write(parts, entries));
    this.#tail = run;
    // Handled here so that a failure is not unhandled while nobody awaits it; it is thrown
    // again where the queue is awaited.
    run.catch(() => {});
    this.#inFlight.push(run);
    while (this.#inFlight.length > UPLOADS_AHEAD) await this.#inFlight.shift();
  }

  async #write(parts: Buffer[], entries: [string, number, number][]): Promise<void> {
    const bytes = Buffer.concat(parts);
    const hash = createHash('sha256').update(bytes).digest('hex');
    const name = `packs/${hash.slice(0, 2)}/${hash}`;
    await this.#tier.put(name, bytes);
    const index = `index/${hash}`;
    await this.#tier.put(
      index,
      this.#key.seal(index, Buffer.from(JSON.stringify({ pack: name, chunks: entries }))),
    );
    this.#onIndexed(entries.map(([id, offset, length]) => [id, name, offset, length]));
    for (const [id] of entries) this.#unindexed.delete(id);
  }
}
