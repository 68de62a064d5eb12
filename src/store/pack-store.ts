import { closeSync, constants, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { HindsightError } from '../core/index.ts';
import { crashPoint, type FileOps, fsyncDir, NODE_FILE_OPS } from '../sys/index.ts';
import type { Catalog } from './catalog.ts';
import { inTransaction } from './catalog.ts';
import type { ChunkReferences } from './chunk-references.ts';
import type { ChunkStore, Codec, CollectReport, StoredChunk, VerifyReport } from './chunk-store.ts';
import { MAX_CHUNK_BYTES } from './chunker.ts';
import { compressChunk, decompressChunk } from './compress.ts';
import { checkHashLength, hashChunk, hashKey } from './hash.ts';
import {
  DEFAULT_PACK_BYTES,
  listPackIds,
  packFileName,
  RECORD_HEADER_BYTES,
  type ReadWindow,
  readExactSync,
  readRecordHeader,
} from './pack-file.ts';
import { markLive, type PackIndex, preparePackIndex } from './pack-index.ts';
import { DEFAULT_WRITE_BUFFER_BYTES, type PackStoreOptions, PIN_MS } from './pack-store-options.ts';
import { PackWriter, type PendingChunk } from './pack-writer.ts';

export * from './pack-store-options.ts';

/** READ_FDS_KEPT bounds the pack files kept open for reading (least recently used are closed). */
const READ_FDS_KEPT = 32;

/** VERIFY_PAGE is how many index rows verify checks between yields to the event loop. */
const VERIFY_PAGE = 256;

interface ChunkRow {
  pack: number;
  offset: number;
  stored_len: number;
  raw_len: number;
  codec: number;
}

/**
 * PackStore is the ChunkStore on local disk: chunks appended to pack files in `dir`, indexed
 * by the catalog's `chunks` and `packs` tables. It buffers new records in memory, writes them
 * in large positioned writes, and fsyncs on sync(); see chunk-store.ts for the durability order.
 * After a failed fsync the store refuses every write (E_STORE_FAILED): the kernel may have
 * dropped the dirty pages, so retrying the fsync could "succeed" over lost data.
 */
export class PackStore implements ChunkStore {
  private readonly dir: string;
  private readonly fs: FileOps;
  private readonly catalog: Catalog;
  private readonly writer: PackWriter;
  private readonly pending = new Map<string, PendingChunk>();
  /** Chunks found present by `has`, with when they were last found (see collect). */
  private readonly pins = new Map<string, number>();
  /** Packs by when chunks were last committed to them: their chunks are pinned too (see collect). */
  private readonly recentPacks = new Map<number, number>();
  private readonly pinMs: number;
  private readonly now: () => number;
  /** Read descriptors of packs, in least-recently-used order (Map keeps insertion order). */
  private readonly readFds = new Map<number, number>();
  private failure: unknown;
  private isClosed = false;
  private syncTail: Promise<void> = Promise.resolve();
  private readonly stmts: PackIndex;
  private readonly fdatasync: (fd: number) => Promise<void>;
  private readonly onFailed: (err: HindsightError) => void;
  /**
   * The first sync makes `dir`'s entry in its parent durable: not only when this store created
   * `dir`, but also when a process killed before its first sync did, and left it undurable.
   */
  private isParentUnsynced = true;

  /**
   * The constructor opens (creating if needed) the pack store in `options.dir`, synchronously,
   * and resumes appending to the newest pack if it has room.
   */
  constructor(options: PackStoreOptions) {
    this.fs = options.fs ?? NODE_FILE_OPS;
    this.fs.mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    this.dir = options.dir;
    this.fdatasync = options.fdatasync ?? ((fd) => this.fs.fdatasync(fd));
    this.onFailed = options.onFailed ?? (() => {});
    this.pinMs = options.pinMs ?? PIN_MS;
    this.now = options.now ?? (() => performance.now());
    this.catalog = options.catalog;
    this.stmts = preparePackIndex(options.catalog);
    const packBytes = options.packBytes ?? DEFAULT_PACK_BYTES;
    const tableMax = (this.stmts.maxPack.get() as { id: number | null }).id ?? 0;
    const ids = listPackIds(this.dir);
    const last = ids.at(-1) ?? 0;
    const lastSize = (this.stmts.packSize.get(last) as { size: number } | undefined)?.size ?? 0;
    this.writer = new PackWriter({
      dir: this.dir,
      fs: this.fs,
      packBytes,
      bufferBytes: options.writeBufferBytes ?? DEFAULT_WRITE_BUFFER_BYTES,
      nextId: Math.max(last, tableMax) + 1,
      resume: last >= tableMax && last > 0 ? { id: last, committedSize: lastSize } : undefined,
    });
  }

  /** open opens (creating if needed) the pack store in `options.dir`; the same as the constructor. */
  static async open(options: PackStoreOptions): Promise<PackStore> {
    return new PackStore(options);
  }

  has(hash: Buffer): boolean {
    const key = hashKey(hash);
    if (this.pending.has(key)) return true;
    if (this.stmts.has.get(hash) === undefined) return false;
    // A caller that finds a chunk present will reference it in a commit to come: until then
    // garbage collection must not take it, even if nothing references it yet.
    this.pins.set(key, this.now());
    return true;
  }

  missing(hashes: Buffer[]): Buffer[] {
    const seen = new Set<string>();
    const out: Buffer[] = [];
    for (const hash of hashes) {
      const key = hashKey(hash);
      if (seen.has(key)) continue;
      seen.add(key);
      if (!this.has(hash)) out.push(hash);
    }
    return out;
  }

  /** putRaw: see ChunkStore. `raw` is copied, so the caller may reuse its buffer at once. */
  putRaw(hash: Buffer, raw: Buffer): boolean {
    this.assertWritable();
    checkHashLength(hash);
    if (raw.length > MAX_CHUNK_BYTES) {
      throw new HindsightError(
        'E_CHUNK_TOO_LARGE',
        `chunk of ${raw.length} bytes exceeds ${MAX_CHUNK_BYTES}`,
      );
    }
    if (this.has(hash)) return false;
    const { codec, data } = compressChunk(raw);
    this.append(hash, codec, raw.length, data);
    return true;
  }

  putStored(chunk: StoredChunk): boolean {
    this.assertWritable();
    checkHashLength(chunk.hash);
    if (chunk.data.length > MAX_CHUNK_BYTES) {
      throw new HindsightError('E_CHUNK_CORRUPT', `stored chunk of ${chunk.data.length} bytes is too large`);
    }
    if (this.has(chunk.hash)) return false;
    const raw = decompressChunk(chunk.codec, chunk.data, chunk.rawLen);
    if (!hashChunk(raw).equals(chunk.hash)) {
      throw new HindsightError(
        'E_CHUNK_CORRUPT',
        `chunk ${chunk.hash.toString('hex')} does not match its hash`,
        {
          hint: 'the sender or the link damaged it; it is asked for again',
        },
      );
    }
    this.append(chunk.hash, chunk.codec, chunk.rawLen, chunk.data);
    return true;
  }

  private append(hash: Buffer, codec: Codec, rawLen: number, data: Buffer): void {
    const entry = this.writer.append(hash, codec, rawLen, data);
    this.pending.set(hashKey(hash), entry);
    try {
      this.writer.flushIfFull();
    } catch (err) {
      // The record stays queued in memory and is written again by the next sync().
      throw new HindsightError('E_STORE_WRITE', 'cannot write pack data', { cause: err, hint: hintFor(err) });
    }
  }

  sync(): Promise<void> {
    // Syncs run one after another: each covers every chunk appended before it started.
    const run = this.syncTail.catch(() => {}).then(() => this.syncNow());
    this.syncTail = run;
    return run;
  }

  private async syncNow(): Promise<void> {
    this.assertWritable();
    const batch = this.writer.takeBatch();
    try {
      await this.writer.writeBatch(batch);
    } catch (err) {
      this.writer.returnBatch(batch);
      throw new HindsightError('E_STORE_WRITE', 'cannot write pack data', { cause: err, hint: hintFor(err) });
    }
    try {
      for (const fd of this.writer.takeDirty()) await this.fdatasync(fd);
      if (batch.needsDirSync) await fsyncDir(this.dir, this.fs);
      if (this.isParentUnsynced) {
        await fsyncDir(dirname(this.dir), this.fs);
        this.isParentUnsynced = false;
      }
    } catch (err) {
      this.failure = err;
      const failed = this.failedError();
      this.onFailed(failed);
      throw failed;
    }
    for (const entry of batch.entries) entry.isSynced = true;
    this.writer.closeRetired();
  }

  commitPending(): void {
    this.assertWritable();
    if (!this.catalog.isTransaction) {
      inTransaction(this.catalog, () => this.commitPending());
      return;
    }
    const packEnds = new Map<number, number>();
    for (const [key, e] of this.pending) {
      if (!e.isSynced) continue;
      this.stmts.insertChunk.run(e.hash, e.pack, e.offset, e.storedLen, e.rawLen, e.codec);
      const end = e.offset + e.storedLen;
      if (end > (packEnds.get(e.pack) ?? 0)) packEnds.set(e.pack, end);
      // If the caller's transaction rolls back, these chunks are forgotten: a later put
      // writes them again. Dropping them here keeps `pending` bounded by one batch.
      this.pending.delete(key);
    }
    for (const [pack, end] of packEnds) {
      this.stmts.upsertPack.run(pack, end);
      this.recentPacks.set(pack, this.now());
    }
    for (const pack of this.writer.takeSealed()) this.stmts.sealPack.run(pack);
  }

  readRaw(hash: Buffer): Buffer {
    const s = this.readStored(hash);
    const raw = decompressChunk(s.codec, s.data, s.rawLen);
    if (!hashChunk(raw).equals(hash)) {
      throw new HindsightError('E_CHUNK_CORRUPT', `chunk ${hash.toString('hex')} does not match its hash`, {
        hint: 'the pack is damaged; run a store verify and resend the affected data',
      });
    }
    return raw;
  }

  /**
   * readStored: see ChunkStore. Checks the record header against the index, not the hash. With
   * `window`, reads from sealed packs go through it (see ReadWindow).
   */
  readStored(hash: Buffer, window?: ReadWindow): StoredChunk {
    this.assertOpen();
    const p = this.pending.get(hashKey(hash));
    if (p?.data !== undefined) {
      // A copy: the pending view lives in the write buffer, which is dropped after the write.
      return { hash: Buffer.from(p.hash), codec: p.codec, rawLen: p.rawLen, data: Buffer.from(p.data) };
    }
    const row = p
      ? { pack: p.pack, offset: p.offset, stored_len: p.storedLen, raw_len: p.rawLen, codec: p.codec }
      : (this.stmts.get.get(hash) as ChunkRow | undefined);
    if (row === undefined) {
      throw new HindsightError('E_CHUNK_MISSING', `chunk ${hash.toString('hex')} is not stored`);
    }
    return this.readRecord(hash, row, window);
  }

  private readRecord(hash: Buffer, row: ChunkRow, window?: ReadWindow): StoredChunk {
    const length = RECORD_HEADER_BYTES + row.stored_len;
    const position = row.offset - RECORD_HEADER_BYTES;
    // The writer's own packs still grow, perhaps out of order: never through a window.
    const isSealed = this.writer.fdOf(row.pack) === undefined;
    const rec =
      window && isSealed
        ? window.read(row.pack, this.fdFor(row.pack), length, position)
        : readExactSync(this.fdFor(row.pack), length, position);
    const h = readRecordHeader(rec, 0);
    if (
      !h.hash.equals(hash) ||
      h.codec !== row.codec ||
      h.rawLen !== row.raw_len ||
      h.storedLen !== row.stored_len
    ) {
      throw new HindsightError(
        'E_CHUNK_CORRUPT',
        `pack ${row.pack} at ${row.offset} does not hold chunk ${hash.toString('hex')}`,
        {
          hint: 'the pack or the index is damaged; run a store verify',
        },
      );
    }
    return {
      hash: Buffer.from(hash),
      codec: h.codec as Codec,
      rawLen: h.rawLen,
      data: rec.subarray(RECORD_HEADER_BYTES),
    };
  }

  private fdFor(pack: number): number {
    const own = this.writer.fdOf(pack);
    if (own !== undefined) return own;
    const fd = this.readFds.get(pack);
    if (fd !== undefined) {
      this.readFds.delete(pack);
      this.readFds.set(pack, fd);
      return fd;
    }
    let opened: number;
    try {
      opened = openSync(join(this.dir, packFileName(pack)), constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      throw new HindsightError('E_CHUNK_MISSING', `cannot open pack ${pack}`, {
        cause: err,
        hint: hintFor(err),
      });
    }
    this.readFds.set(pack, opened);
    if (this.readFds.size > READ_FDS_KEPT) {
      const [oldest, oldFd] = this.readFds.entries().next().value as [number, number];
      this.readFds.delete(oldest);
      closeSync(oldFd);
    }
    return opened;
  }

  /**
   * verify re-reads every committed chunk (in hash order, a page at a time, yielding to the
   * event loop between pages), checks its record header, decompresses and re-hashes it.
   * `bytes` counts raw bytes checked. Bytes in packs that no index row points at are not reported.
   */
  async verify(): Promise<VerifyReport> {
    this.assertOpen();
    const report: VerifyReport = { chunks: 0, bytes: 0, bad: [] };
    let after = Buffer.alloc(0);
    for (;;) {
      const rows = this.stmts.page.all(after, VERIFY_PAGE) as unknown as (ChunkRow & { hash: Uint8Array })[];
      if (rows.length === 0) return report;
      for (const row of rows) {
        const hash = Buffer.from(row.hash);
        report.chunks++;
        try {
          const s = this.readRecord(hash, row);
          const raw = decompressChunk(s.codec, s.data, s.rawLen);
          if (!hashChunk(raw).equals(hash)) throw new Error('hash mismatch');
          report.bytes += raw.length;
        } catch {
          report.bad.push(hash.toString('hex'));
        }
        after = hash;
      }
      await yieldToLoop();
    }
  }

  /**
   * collect removes what nothing references any more; `references` are every holder of chunk
   * lists (outbox, versions, quarantine). In order, each step crash-safe:
   *
   *  1. Synchronously, before anything is awaited, in one transaction: every chunk the holders
   *     list is marked live in a temporary table (on disk: memory does not grow with the store),
   *     and the index rows of chunks that are neither marked, pending, nor pinned are deleted.
   *     Chunks committed within `pinMs` are pinned by their pack: one commit can carry the chunks
   *     of a batch whose changes come in the next (a file read while another batch commits). A chunk is pinned for `pinMs`
   *     (an hour) after `has` last found it: its referencing commit may still be on the way.
   *     That is the safety margin, measured in time so that collections run back to back
   *     cannot wear it down.
   *  2. Packs of other than the open one that no row points at any more are deleted (a crash
   *     before that leaves a file nothing points at: the next collection deletes it).
   *  3. Packs whose live bytes are below `rewriteBelow` of their size have their live records
   *     copied to the open pack, which is fsynced before the rows move to it in one
   *     transaction; only then is the old pack deleted.
   */
  async collect(references: readonly ChunkReferences[], rewriteBelow = 0.5): Promise<CollectReport> {
    this.assertWritable();
    const now = this.now();
    for (const [key, at] of this.pins) if (now - at > this.pinMs) this.pins.delete(key);
    for (const [pack, at] of this.recentPacks) if (now - at > this.pinMs) this.recentPacks.delete(pack);
    const report: CollectReport = { chunksDropped: 0, bytesDropped: 0, packsDeleted: 0, packsRewritten: 0 };
    inTransaction(this.catalog, () => {
      markLive(this.stmts, references);
      for (const row of this.stmts.unmarked.iterate() as Iterable<ChunkRow & { hash: Uint8Array }>) {
        const hash = Buffer.from(row.hash);
        const key = hashKey(hash);
        if (this.pins.has(key) || this.pending.has(key) || this.recentPacks.has(row.pack)) continue;
        this.stmts.dropChunk.run(hash);
        report.chunksDropped++;
        report.bytesDropped += row.stored_len + RECORD_HEADER_BYTES;
      }
      this.stmts.clearLive.run();
    });
    crashPoint('gc.after-drop');
    const busy = new Set([...this.pending.values()].map((e) => e.pack));
    const usage = new Map(
      (this.stmts.packUsage.all() as { pack: number; live: number }[]).map((r) => [r.pack, r.live]),
    );
    for (const id of listPackIds(this.dir)) {
      if (this.writer.fdOf(id) !== undefined || busy.has(id)) continue;
      const live = usage.get(id) ?? 0;
      if (live === 0) {
        this.deletePack(id);
        report.packsDeleted++;
        continue;
      }
      const size = (this.stmts.packSize.get(id) as { size: number } | undefined)?.size ?? 0;
      if (size > 0 && live < size * rewriteBelow) {
        await this.rewritePack(id);
        report.packsRewritten++;
      }
    }
    return report;
  }

  /** rewritePack copies the live records of pack `id` to the open pack, then deletes `id`. */
  private async rewritePack(id: number): Promise<void> {
    const rows = this.stmts.inPack.all(id) as unknown as (ChunkRow & { hash: Uint8Array })[];
    const moved: PendingChunk[] = [];
    for (const row of rows) {
      const s = this.readRecord(Buffer.from(row.hash), row);
      moved.push(this.writer.append(s.hash, s.codec, s.rawLen, Buffer.from(s.data)));
    }
    await this.sync();
    crashPoint('gc.after-copy');
    inTransaction(this.catalog, () => {
      const packEnds = new Map<number, number>();
      for (const e of moved) {
        this.stmts.moveChunk.run(e.pack, e.offset, e.hash, id);
        packEnds.set(e.pack, Math.max(packEnds.get(e.pack) ?? 0, e.offset + e.storedLen));
      }
      for (const [pack, end] of packEnds) this.stmts.upsertPack.run(pack, end);
      for (const pack of this.writer.takeSealed()) this.stmts.sealPack.run(pack);
    });
    crashPoint('gc.after-move');
    this.deletePack(id);
  }

  /** deletePack removes a pack that no index row points at: its row, descriptor and file. */
  private deletePack(id: number): void {
    if (this.stmts.packInUse.get(id) !== undefined) return;
    this.stmts.dropPack.run(id);
    const fd = this.readFds.get(id);
    if (fd !== undefined) {
      closeSync(fd);
      this.readFds.delete(id);
    }
    this.fs.unlinkSync(join(this.dir, packFileName(id)));
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    try {
      if (this.failure === undefined) await this.sync();
    } finally {
      this.isClosed = true;
      this.writer.closeAll();
      for (const fd of this.readFds.values()) closeSync(fd);
      this.readFds.clear();
    }
  }

  private assertOpen(): void {
    if (this.isClosed) throw new HindsightError('E_STORE_CLOSED', 'chunk store is closed');
  }

  private assertWritable(): void {
    this.assertOpen();
    if (this.failure !== undefined) throw this.failedError();
  }

  private failedError(): HindsightError {
    return new HindsightError(
      'E_STORE_FAILED',
      'chunk store refuses writes after a failed fsync of pack data',
      {
        cause: this.failure,
        hint: 'check the disk (dmesg), then restart the agent: it trusts only what the catalog committed',
      },
    );
  }
}

function hintFor(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC') return 'the disk of the state directory is full: free space';
  if (code === 'ENOENT') return 'a pack file is missing from the state directory; run a store verify';
  return 'check the state directory and its disk';
}
