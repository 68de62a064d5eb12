import { createHash, randomBytes } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { type Change, HASH_BYTES, HindsightError, isHindsightError } from '../core/index.ts';
import { CODEC_ZSTD, decompressChunk, hashChunk, type StoredChunk } from '../store/index.ts';
import { PackUploads } from './pack-uploads.ts';
import type { RepoKey } from './repo-key.ts';
import { restoreTree } from './restore-tree.ts';
import { type Tier, tierMissing } from './tier.ts';

const HEADER = 'hindsight-repository.json';
const FORMAT = 1;
/** PACK_CACHE is how many whole packs (of about PACK_TARGET_BYTES) reading keeps. */
const PACK_CACHE = 4;
/** YIELD_EVERY is how many chunks a backup seals between turns of the event loop (the pack writes advance there). */
const YIELD_EVERY = 16;

/** ManifestEntry is one path of a backed-up tree (docs/backup-format.md, manifests). */
export interface ManifestEntry {
  path: string;
  kind: 'put' | 'mkdir' | 'symlink';
  mode: number;
  mtimeMs: number;
  size: number;
  target: string | null;
  /** Keyed chunk ids, in order (empty but for `put`). */
  chunks: string[];
}

/** Snapshot is one backup of one volume at one moment of its timeline. */
export interface Snapshot {
  id: string;
  volume: string;
  /** The last seq of the timeline the backup holds, and that change's production time. */
  seq: number;
  at: number;
  /** When and where it was taken. */
  takenAt: number;
  node: string;
  manifest: string;
  files: number;
  bytes: number;
}

/** BackupTotals is what writing one backup cost: objects and bytes new to the repository. */
export interface BackupTotals {
  newChunks: number;
  newBytes: number;
  manifestReused: boolean;
}

/** PruneReport says what `prune` deleted. */
export interface PruneReport {
  snapshots: number;
  manifests: number;
  packs: number;
  /** Sealed bytes of the deleted chunks. */
  bytes: number;
}

/**
 * BackupEntry is one path of the tree to back up, as the timeline holds it; `seq` is the change
 * that gave the path this state (an entry whose `seq` the previous backup already covered is
 * taken from that backup's manifest).
 */
export type BackupEntry = Pick<
  Change,
  'path' | 'kind' | 'mode' | 'mtimeMs' | 'size' | 'target' | 'chunks'
> & {
  seq?: number;
};

/** ChunkPlace is where a chunk is: its pack, and its range in it. */
export interface ChunkPlace {
  pack: string;
  offset: number;
  length: number;
}

/**
 * Repository is one backup repository on one tier (docs/backup-format.md): its header, the
 * index of every chunk it holds, and the backups. It writes packs before their index, indexes
 * before manifests, manifests before snapshots, so a crash leaves only unreferenced objects.
 *
 * The chunk index is kept in memory while the repository is open (about 150 bytes a chunk);
 * opened with `lazyIndex`, it is read when first needed (a backup that only reuses, writes no chunk).
 */
export class Repository {
  readonly id: string;
  readonly #tier: Tier;
  readonly #key: RepoKey;
  readonly #chunks = new Map<string, ChunkPlace>();
  /** Whether #chunks holds the index of the tier yet (see open's `lazyIndex`). */
  #isIndexed = false;
  /** The packs read whole lately (see #sealedChunk), and the packs read from at all. */
  readonly #packCache = new Map<string, Buffer>();
  readonly #packsSeen = new Set<string>();

  private constructor(tier: Tier, key: RepoKey, id: string) {
    this.#tier = tier;
    this.#key = key;
    this.id = id;
  }

  /**
   * init creates a repository on an empty tier, for the cluster whose CA has fingerprint
   * `cluster`; `id` gives a further tier the id of the repository the node already has.
   */
  static async init(
    tier: Tier,
    key: RepoKey,
    cluster: string,
    id = randomBytes(16).toString('hex'),
  ): Promise<Repository> {
    if (await tier.exists(HEADER)) {
      throw new HindsightError('E_TIER_FOREIGN', `${tier.url} already holds a repository`, {
        hint: 'open it with its key, or give an empty location',
      });
    }
    const header = { format: FORMAT, repository: id, cluster, keyCheck: key.keyCheck(id) };
    await tier.put(HEADER, Buffer.from(`${JSON.stringify(header, null, 2)}\n`));
    return new Repository(tier, key, id);
  }

  /**
   * initOrAdopt is `init`, except for a location that holds a repository already: it is taken
   * over with `adopt` (the disaster-recovery path: `key` must open it), and refused otherwise.
   */
  static async initOrAdopt(
    tier: Tier,
    key: RepoKey,
    cluster: string,
    id: string | undefined,
    adopt: boolean,
  ): Promise<Repository> {
    try {
      return await Repository.init(tier, key, cluster, id);
    } catch (err) {
      if (!isHindsightError(err, 'E_TIER_FOREIGN')) throw err;
      if (!adopt) {
        throw new HindsightError('E_TIER_FOREIGN', `${tier.url} already holds a backup repository`, {
          hint: 'to take it over (after losing this node), add it with --adopt and the key that made it',
        });
      }
      return Repository.open(tier, key);
    }
  }

  /**
   * open reads the header and the chunk index (with `lazyIndex`, the index only when first
   * needed); a wrong key is E_BACKUP_KEY, before anything else is read.
   */
  static async open(tier: Tier, key: RepoKey, options: { lazyIndex?: boolean } = {}): Promise<Repository> {
    const header = JSON.parse((await tier.get(HEADER)).toString()) as {
      format: number;
      repository: string;
      keyCheck: string;
    };
    if (header.format !== FORMAT) {
      throw new HindsightError(
        'E_BACKUP_FORMAT',
        `${tier.url} holds repository format ${header.format}, not ${FORMAT}`,
      );
    }
    if (!key.isKeyOf(header.repository, header.keyCheck)) {
      throw new HindsightError('E_BACKUP_KEY', `the key does not open the repository on ${tier.url}`, {
        hint: 'use the key file printed by hindsight backup key export on the node that made it',
      });
    }
    const repo = new Repository(tier, key, header.repository);
    if (!options.lazyIndex) await repo.#readIndex();
    return repo;
  }

  /** #readIndex reads every pack index of the tier into #chunks, once. */
  async #readIndex(): Promise<void> {
    if (this.#isIndexed) return;
    for await (const name of this.#tier.list('index/')) {
      const rows = JSON.parse(this.#key.open(name, await this.#tier.get(name)).toString()) as {
        pack: string;
        chunks: [string, number, number][];
      };
      for (const [id, offset, length] of rows.chunks)
        this.#chunks.set(id, { pack: rows.pack, offset, length });
    }
    this.#isIndexed = true;
  }

  /**
   * backup writes the tree `entries` (the state of `volume` at `seq`, in path order) as a new
   * snapshot; chunk content comes from `readStored(address)`, the mirror's chunk store, checked
   * against its address and sealed in the form the store keeps it (compressed or not). Chunks
   * and a manifest the repository already holds are not written again. With `previous`, the id
   * of an earlier backup of the volume, an entry unchanged since it (its `seq` at or below that
   * backup's) is taken from that backup's manifest instead of naming its chunks again.
   */
  async backup(input: {
    volume: string;
    seq: number;
    at: number;
    node: string;
    takenAt: number;
    entries: Iterable<BackupEntry>;
    /** A chunk of the mirror's store; what it returns is used up before the next call (it may be a view that the next read replaces). */
    readStored: (address: Buffer) => StoredChunk;
    previous?: string;
    /** Told after each entry: entries done, and bytes new to the repository so far. */
    onProgress?: (entries: number, newBytes: number) => void;
  }): Promise<{ snapshot: Snapshot; totals: BackupTotals }> {
    const totals: BackupTotals = { newChunks: 0, newBytes: 0, manifestReused: false };
    const uploads = new PackUploads(this.#tier, this.#key, (chunks) => {
      for (const [id, pack, offset, length] of chunks) this.#chunks.set(id, { pack, offset, length });
    });
    const earlier = await this.#earlierEntries(input.previous, input.volume, input.seq);
    const lines: string[] = [];
    let files = 0;
    let bytes = 0;
    let done = 0;
    let sealed = 0;
    for (const e of input.entries) {
      input.onProgress?.(done++, totals.newBytes);
      if (e.kind !== 'put' && e.kind !== 'mkdir' && e.kind !== 'symlink') continue;
      if (e.kind === 'put') {
        files++;
        bytes += e.size;
      }
      const reused = earlier && e.seq !== undefined && e.seq <= earlier.seq ? earlier.line(e) : undefined;
      if (reused !== undefined) {
        lines.push(reused);
        continue;
      }
      const chunks: string[] = [];
      for (let i = 0; e.chunks && i < e.chunks.length; i += HASH_BYTES) {
        const address = e.chunks.subarray(i, i + HASH_BYTES);
        const id = this.#key.chunkId(address);
        chunks.push(id);
        if (uploads.has(id)) continue;
        await this.#readIndex();
        if (this.#chunks.has(id)) continue;
        const stored = checkedStored(input.readStored(address), address);
        totals.newChunks++;
        totals.newBytes += await uploads.add(id, { isZstd: stored.codec === CODEC_ZSTD, data: stored.data });
        // The pack writes advance only on turns of the event loop, which sealing would not give.
        if (++sealed % YIELD_EVERY === 0) await yieldToLoop();
      }
      const entry: ManifestEntry = {
        path: e.path,
        kind: e.kind,
        mode: e.mode,
        mtimeMs: e.mtimeMs,
        size: e.size,
        target: e.target,
        chunks,
      };
      lines.push(JSON.stringify(entry));
    }
    await uploads.drain();
    const body = Buffer.from(lines.join('\n'));
    const manifest = `manifests/${this.#key.chunkId(createHash('sha256').update(body).digest())}`;
    if (await this.#tier.exists(manifest)) totals.manifestReused = true;
    else await this.#tier.put(manifest, this.#key.seal(manifest, body));
    const id = randomBytes(16).toString('hex');
    const snapshot: Snapshot = {
      id,
      volume: input.volume,
      seq: input.seq,
      at: input.at,
      takenAt: input.takenAt,
      node: input.node,
      manifest,
      files,
      bytes,
    };
    const name = `snapshots/${id}`;
    await this.#tier.put(name, this.#key.seal(name, Buffer.from(JSON.stringify(snapshot))));
    return { snapshot, totals };
  }

  /**
   * #earlierEntries reads the manifest of backup `id` when it is a backup of `volume` at or
   * before `seq`, as its lines by path; `line(e)` returns the line of `e`'s path if it still
   * describes `e` (kind, mode, time, size, target, number of chunks), else undefined. A backup
   * the tier no longer holds (pruned) gives nothing to reuse.
   */
  async #earlierEntries(
    id: string | undefined,
    volume: string,
    seq: number,
  ): Promise<{ seq: number; line: (e: BackupEntry) => string | undefined } | undefined> {
    if (id === undefined) return undefined;
    let snapshot: Snapshot;
    try {
      snapshot = await this.#snapshot(id);
    } catch (err) {
      if (isHindsightError(err, 'E_TIER_MISSING')) return undefined;
      throw err;
    }
    if (snapshot.volume !== volume || snapshot.seq > seq) return undefined;
    const body = this.#key.open(snapshot.manifest, await this.#tier.get(snapshot.manifest)).toString();
    const byPath = new Map<string, string>();
    for (const line of body === '' ? [] : body.split('\n')) byPath.set(pathOfLine(line), line);
    return {
      seq: snapshot.seq,
      line: (e) => {
        const line = byPath.get(e.path);
        if (line === undefined) return undefined;
        const was = JSON.parse(line) as ManifestEntry;
        const isSame =
          was.kind === e.kind &&
          was.mode === e.mode &&
          was.mtimeMs === e.mtimeMs &&
          was.size === e.size &&
          was.target === e.target &&
          was.chunks.length === (e.chunks?.length ?? 0) / HASH_BYTES;
        return isSame ? line : undefined;
      },
    };
  }

  async #snapshot(id: string): Promise<Snapshot> {
    const name = `snapshots/${id}`;
    return JSON.parse(this.#key.open(name, await this.#tier.get(name)).toString()) as Snapshot;
  }

  /** snapshots lists the backups in the repository, oldest moment first. */
  async snapshots(): Promise<Snapshot[]> {
    const out: Snapshot[] = [];
    for await (const name of this.#tier.list('snapshots/')) {
      out.push(JSON.parse(this.#key.open(name, await this.#tier.get(name)).toString()) as Snapshot);
    }
    return out.sort((a, b) => a.at - b.at || a.takenAt - b.takenAt);
  }

  /** manifest reads the entries of a snapshot, in path order. */
  async manifest(snapshot: Snapshot): Promise<ManifestEntry[]> {
    const body = this.#key.open(snapshot.manifest, await this.#tier.get(snapshot.manifest)).toString();
    return body === '' ? [] : body.split('\n').map((line) => JSON.parse(line) as ManifestEntry);
  }

  /**
   * restore writes snapshot `id` (or only `path` and what is beneath it) into directory `into`,
   * with modes and modification times. Each chunk is checked against its id; a damaged one
   * fails the restore naming the file (E_BACKUP_CORRUPT).
   */
  async restore(
    id: string,
    into: string,
    options: { path?: string } = {},
  ): Promise<{ files: number; bytes: number }> {
    const snapshot = (await this.snapshots()).find((s) => s.id === id);
    if (!snapshot) throw new HindsightError('E_BACKUP_UNKNOWN', `no backup ${id} in ${this.#tier.url}`);
    const prefix = options.path;
    const entries = (await this.manifest(snapshot)).filter(
      (e) => prefix === undefined || e.path === prefix || e.path.startsWith(`${prefix}/`),
    );
    await this.#readIndex();
    return restoreTree(
      {
        url: this.#tier.url,
        place: (chunk) => this.#chunks.get(chunk),
        readPack: (pack, range) => this.#tier.get(pack, range),
        openChunk: (chunk, sealed, path) => this.#openChunk(chunk, sealed, path),
      },
      entries,
      into,
    );
  }

  /**
   * prune deletes the backups whose ids are not in `keep`, then what only they used: their
   * manifests, and the packs none of whose chunks a kept backup needs (a pack that still holds
   * one needed chunk stays whole). The order — snapshots, manifests, each index before its
   * pack — leaves only unreferenced objects wherever a crash stops it.
   */
  async prune(keep: ReadonlySet<string>): Promise<PruneReport> {
    await this.#readIndex();
    const report: PruneReport = { snapshots: 0, manifests: 0, packs: 0, bytes: 0 };
    const all = await this.snapshots();
    const kept = all.filter((s) => keep.has(s.id));
    for (const s of all) {
      if (keep.has(s.id)) continue;
      await this.#tier.delete(`snapshots/${s.id}`);
      report.snapshots++;
    }
    const manifests = new Set(kept.map((s) => s.manifest));
    const needed = new Set<string>();
    for (const s of kept) for (const e of await this.manifest(s)) for (const c of e.chunks) needed.add(c);
    for await (const name of this.#tier.list('manifests/')) {
      if (manifests.has(name)) continue;
      await this.#tier.delete(name);
      report.manifests++;
    }
    const byPack = new Map<string, string[]>();
    for (const [id, place] of this.#chunks) byPack.set(place.pack, [...(byPack.get(place.pack) ?? []), id]);
    for (const [pack, ids] of byPack) {
      if (ids.some((id) => needed.has(id))) continue;
      await this.#tier.delete(`index/${pack.slice(pack.lastIndexOf('/') + 1)}`);
      await this.#tier.delete(pack);
      for (const id of ids) {
        report.bytes += this.#chunks.get(id)?.length ?? 0;
        this.#chunks.delete(id);
      }
      report.packs++;
    }
    return report;
  }

  /** chunkPlaces yields every chunk the index knows, with its pack, offset and length (opened without `lazyIndex`). */
  *chunkPlaces(): Iterable<[string, ChunkPlace]> {
    yield* this.#chunks;
  }

  /** readChunk returns chunk `id`, checked against its id; `path` names the file in errors. */
  readChunk(id: string, path: string): Promise<Buffer> {
    return this.#readChunk(id, path);
  }

  /**
   * #sealedChunk reads a chunk's bytes from its pack: the first chunk of a pack by its range (a
   * restore of one file reads little), and once a second one is wanted, the whole pack, kept
   * among the last few read (a whole restore reads each pack about once, not once per chunk).
   */
  async #sealedChunk(place: ChunkPlace): Promise<Buffer> {
    const cached = this.#packCache.get(place.pack);
    if (cached) {
      this.#packCache.delete(place.pack);
      this.#packCache.set(place.pack, cached);
      return cached.subarray(place.offset, place.offset + place.length);
    }
    if (!this.#packsSeen.has(place.pack)) {
      this.#packsSeen.add(place.pack);
      return this.#tier.get(place.pack, place);
    }
    const whole = await this.#tier.get(place.pack);
    this.#packCache.set(place.pack, whole);
    if (this.#packCache.size > PACK_CACHE)
      this.#packCache.delete(this.#packCache.keys().next().value as string);
    return whole.subarray(place.offset, place.offset + place.length);
  }

  async #readChunk(id: string, path: string): Promise<Buffer> {
    await this.#readIndex();
    const place = this.#chunks.get(id);
    if (!place) throw tierMissing(this.#tier.url, `chunk ${id} of ${path}`);
    return this.#openChunk(id, await this.#sealedChunk(place), path);
  }

  /** #openChunk decrypts chunk `id` and checks it against its id; damage is E_BACKUP_CORRUPT naming `path`. */
  #openChunk(id: string, sealed: Buffer, path: string): Buffer {
    let plain: Buffer;
    try {
      plain = this.#key.open(`chunk/${id}`, sealed);
    } catch (err) {
      throw new HindsightError(
        'E_BACKUP_CORRUPT',
        `${path} is damaged in this backup: ${(err as Error).message}`,
        {
          hint: 'restore it from another tier, or from an older backup',
          cause: err,
        },
      );
    }
    if (this.#key.chunkId(hashChunk(plain)) !== id) {
      throw new HindsightError(
        'E_BACKUP_CORRUPT',
        `${path} is damaged in this backup: a chunk does not match its id`,
      );
    }
    return plain;
  }
}

/**
 * checkedStored returns a chunk of the mirror's store after checking it against its address: a
 * damaged chunk must fail the backup (E_CHUNK_CORRUPT), not be sealed into it.
 */
function checkedStored(stored: StoredChunk, address: Buffer): StoredChunk {
  const raw = decompressChunk(stored.codec, stored.data, stored.rawLen);
  if (!hashChunk(raw).equals(address)) {
    throw new HindsightError('E_CHUNK_CORRUPT', `chunk ${address.toString('hex')} does not match its hash`, {
      hint: "the mirror's pack is damaged; run a store verify and resend the affected data",
    });
  }
  return stored;
}

/** pathOfLine reads the path of a manifest line, which JSON.stringify of a ManifestEntry puts first. */
function pathOfLine(line: string): string {
  // `","kind":"` cannot occur inside the path: its quotes would be escaped there.
  return JSON.parse(line.slice('{"path":'.length, line.indexOf('","kind":"') + 1)) as string;
}
