import { hashChunk } from '../store/index.ts';
import { type RepoKey, type SealBody, sealedLength } from './repo-key.ts';
import type { Tier } from './tier.ts';

/** PACK_TARGET_BYTES is the size at which a pack is closed and written. */
export const PACK_TARGET_BYTES = 8 * 1024 * 1024;
/**
 * UPLOADS_AHEAD is how many closed packs may wait for the tier while the next one is filled:
 * sealing goes on while a pack is written and fsynced, and memory stays bounded (about
 * (UPLOADS_AHEAD + 1) × PACK_TARGET_BYTES).
 */
const UPLOADS_AHEAD = 4;
/**
 * PACK_WRITERS is how many of those packs are written at once. Each write ends in fsyncs of
 * the pack, its index and their directories, which a local disk or a remote server serves
 * better side by side than one after another.
 */
const PACK_WRITERS = 2;
/**
 * PACK_SLACK_BYTES is room past the target for the chunk that fills a pack: the chunker cuts at
 * most 64 KiB; a larger chunk that does not fit closes the pack and opens the next.
 */
const PACK_SLACK_BYTES = 256 * 1024;

/** IndexedChunk is where a chunk went: `[chunkId, pack name, offset, length]`. */
export type IndexedChunk = [string, string, number, number];

/**
 * PackUploads fills packs with sealed chunks and writes each closed pack, then its index, to the
 * tier, PACK_WRITERS packs at a time, behind the filling (docs/backup-format.md: a pack before
 * its index). `onIndexed` is told the chunks of a pack once its index is written, never before:
 * a chunk is known to the repository only when a reader can find it. After a failed write no
 * other pack is begun (one under way finishes, with its index), and `drain` (or the next `add`
 * that must wait) throws the failure.
 *
 * Chunks are sealed straight into one of a few pack buffers that are used again once their pack
 * is written: no copy of a pack into a buffer of its own, no fresh memory for each pack (a
 * fresh 8 MiB buffer costs its page faults, more than the copy).
 */
export class PackUploads {
  readonly #tier: Tier;
  readonly #key: RepoKey;
  readonly #onIndexed: (chunks: IndexedChunk[]) => void;
  /** Pack buffers not in use; at most UPLOADS_AHEAD + 1 exist. */
  readonly #free: Buffer[] = [];
  #pack: Buffer | null = null;
  #entries: [string, number, number][] = [];
  #bytes = 0;
  /** Chunk ids in the open pack or in packs on their way: not indexed yet, but not to be sealed again. */
  readonly #unindexed = new Set<string>();
  readonly #inFlight: Promise<void>[] = [];
  /** Writes running now, those waiting for one of PACK_WRITERS, and the first failure. */
  #writing = 0;
  readonly #waiting: (() => void)[] = [];
  #failure: { error: unknown } | null = null;

  constructor(tier: Tier, key: RepoKey, onIndexed: (chunks: IndexedChunk[]) => void) {
    this.#tier = tier;
    this.#key = key;
    this.#onIndexed = onIndexed;
  }

  /** has says whether chunk `id` was added and is not yet indexed. */
  has(id: string): boolean {
    return this.#unindexed.has(id);
  }

  /**
   * add seals chunk `id` (its body as the mirror's store keeps it) into the open pack; a full
   * pack is closed and queued for writing. Returns the sealed length.
   */
  async add(id: string, body: SealBody): Promise<number> {
    const length = sealedLength(body.data.length);
    if (this.#pack !== null && this.#bytes + length > this.#pack.length) await this.#close();
    if (this.#pack === null) this.#pack = this.#takeBuffer(length);
    this.#key.sealInto(`chunk/${id}`, body, this.#pack, this.#bytes);
    this.#entries.push([id, this.#bytes, length]);
    this.#unindexed.add(id);
    this.#bytes += length;
    if (this.#bytes >= PACK_TARGET_BYTES) await this.#close();
    return length;
  }

  /** drain closes the open pack and resolves once every pack and its index are written. */
  async drain(): Promise<void> {
    await this.#close();
    while (this.#inFlight.length > 0) await this.#inFlight.shift();
  }

  /** #takeBuffer is a pack buffer with room for at least `atLeast` bytes (one chunk larger than a pack gets its own). */
  #takeBuffer(atLeast: number): Buffer {
    const size = PACK_TARGET_BYTES + PACK_SLACK_BYTES;
    if (atLeast > size) return Buffer.allocUnsafeSlow(atLeast);
    const free = this.#free.pop();
    if (free) return free;
    return Buffer.allocUnsafeSlow(size);
  }

  async #close(): Promise<void> {
    if (this.#pack === null) return;
    const pack = this.#pack;
    const bytes = pack.subarray(0, this.#bytes);
    const entries = this.#entries;
    this.#pack = null;
    this.#entries = [];
    this.#bytes = 0;
    const run = this.#whenWriterFree(() => this.#write(bytes, entries)).finally(() => {
      if (pack.length === PACK_TARGET_BYTES + PACK_SLACK_BYTES) this.#free.push(pack);
    });
    // Handled here so that a failure is not unhandled while nobody awaits it; it is thrown
    // again where the queue is awaited.
    run.catch(() => {});
    this.#inFlight.push(run);
    while (this.#inFlight.length > UPLOADS_AHEAD) await this.#inFlight.shift();
  }

  /**
   * #whenWriterFree runs `write` once fewer than PACK_WRITERS run, in the order asked; after a
   * failure no later write starts (each pack's own index still follows its pack, in #write).
   */
  async #whenWriterFree(write: () => Promise<void>): Promise<void> {
    if (this.#writing < PACK_WRITERS) this.#writing++;
    else await new Promise<void>((resume) => this.#waiting.push(resume)); // handed a running write's place
    try {
      if (this.#failure) throw this.#failure.error;
      await write();
    } catch (err) {
      this.#failure ??= { error: err };
      throw err;
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#writing--;
    }
  }

  async #write(bytes: Buffer, entries: [string, number, number][]): Promise<void> {
    // BLAKE3, native, is several times faster here than SHA-256; readers never recompute the
    // name (every chunk in a pack is authenticated on its own), so both kinds of name are read alike.
    const hash = hashChunk(bytes).toString('hex');
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
