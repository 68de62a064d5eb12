import { constants, fstatSync } from 'node:fs';
import { join } from 'node:path';
import type { FileOps } from '../sys/index.ts';
import type { Codec } from './chunk-store.ts';
import {
  PACK_MAGIC,
  packFileName,
  RECORD_HEADER_BYTES,
  readExactSync,
  writeAllAt,
  writeAllAtSync,
  writeRecordHeader,
} from './pack-file.ts';

/** PendingChunk is a chunk appended to a pack whose index row is not committed yet. */
export interface PendingChunk {
  hash: Buffer;
  codec: Codec;
  rawLen: number;
  storedLen: number;
  pack: number;
  /** Offset of the data (after the record header) in the pack file. */
  offset: number;
  /** The stored bytes while they are only in the write buffer; undefined once written. */
  data: Buffer | undefined;
  /** True once the bytes are fsynced: only then may the index row be committed. */
  isSynced: boolean;
}

/** A run of records for one pack, contiguous from `position`, in one buffer: one write call. */
interface Segment {
  pack: number;
  fd: number;
  position: number;
  buf: Buffer;
  used: number;
  entries: PendingChunk[];
  isWritten: boolean;
}

/** WriteBatch is what one sync() writes: the queued segments and the chunks it makes durable. */
export interface WriteBatch {
  segments: Segment[];
  entries: PendingChunk[];
  needsDirSync: boolean;
}

/** PackWriterOptions: see PackStoreOptions; `resume` names the newest pack file, if any. */
export interface PackWriterOptions {
  dir: string;
  fs: FileOps;
  packBytes: number;
  bufferBytes: number;
  nextId: number;
  resume: { id: number; committedSize: number } | undefined;
}

/**
 * PackWriter appends records to the open pack, rotating to a new pack beyond `packBytes`, and
 * keeps them in memory until written. Writes are positioned (pwrite), so a synchronous flush
 * from putRaw and an asynchronous sync() never interleave bytes within a range.
 */
export class PackWriter {
  private readonly dir: string;
  private readonly fs: FileOps;
  private readonly packBytes: number;
  private readonly bufferBytes: number;
  private nextId: number;
  private current: { id: number; fd: number; end: number } | undefined;
  private readonly fds = new Map<number, number>();
  private queue: Segment[] = [];
  private queuedBytes = 0;
  private unsynced: PendingChunk[] = [];
  private needsDirSync = false;
  private readonly dirty = new Set<number>();
  private readonly retired = new Set<number>();
  private sealed: number[] = [];

  constructor(options: PackWriterOptions) {
    this.dir = options.dir;
    this.fs = options.fs;
    this.packBytes = options.packBytes;
    this.bufferBytes = options.bufferBytes;
    this.nextId = options.nextId;
    if (options.resume) this.resume(options.resume.id, options.resume.committedSize);
  }

  /**
   * resume reopens the newest pack for appending at its real end. Bytes past the last committed
   * record (a crash between sync and commit, or a torn write) stay where they are, unreferenced.
   * A pack shorter than the catalog says, or without its magic, is left alone: a new pack
   * is started rather than writing over data that the index may point at.
   */
  private resume(id: number, committedSize: number): void {
    const fd = this.fs.openSync(join(this.dir, packFileName(id)), constants.O_RDWR | constants.O_NOFOLLOW);
    const size = fstatSync(fd).size;
    const isUsable =
      size >= PACK_MAGIC.length &&
      size >= committedSize &&
      size < this.packBytes &&
      readExactSync(fd, PACK_MAGIC.length, 0).equals(PACK_MAGIC);
    if (!isUsable) {
      this.fs.closeSync(fd);
      return;
    }
    this.current = { id, fd, end: size };
    this.fds.set(id, fd);
    // A process killed before its first sync may have created this pack, and the name of a
    // file is durable only once its directory is fsynced: the first sync does that here too.
    this.needsDirSync = true;
  }

  /** append queues one record and returns its pending entry; `data` is copied into the buffer. */
  append(hash: Buffer, codec: Codec, rawLen: number, data: Buffer): PendingChunk {
    const recordBytes = RECORD_HEADER_BYTES + data.length;
    const pack = this.packFor(recordBytes);
    const seg = this.segmentFor(pack, recordBytes);
    writeRecordHeader(seg.buf, seg.used, { hash, codec, rawLen, storedLen: data.length });
    const at = seg.used + RECORD_HEADER_BYTES;
    data.copy(seg.buf, at);
    const entry: PendingChunk = {
      hash: Buffer.from(hash),
      codec,
      rawLen,
      storedLen: data.length,
      pack: pack.id,
      offset: pack.end + RECORD_HEADER_BYTES,
      data: seg.buf.subarray(at, at + data.length),
      isSynced: false,
    };
    seg.used += recordBytes;
    seg.entries.push(entry);
    pack.end += recordBytes;
    this.queuedBytes += recordBytes;
    this.unsynced.push(entry);
    return entry;
  }

  private packFor(recordBytes: number): { id: number; fd: number; end: number } {
    const cur = this.current;
    if (cur && (cur.end + recordBytes <= this.packBytes || cur.end <= PACK_MAGIC.length)) return cur;
    if (cur) {
      this.retired.add(cur.id);
      this.sealed.push(cur.id);
    }
    const id = this.nextId++;
    // O_EXCL: a pack id is never reused, even if a stray file of that name exists.
    const fd = this.fs.openSync(
      join(this.dir, packFileName(id)),
      constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    this.fds.set(id, fd);
    this.current = { id, fd, end: 0 };
    // The new file's directory entry must be durable before any index row points into it.
    this.needsDirSync = true;
    const seg = this.segmentFor(this.current, PACK_MAGIC.length);
    PACK_MAGIC.copy(seg.buf, 0);
    seg.used = PACK_MAGIC.length;
    this.current.end = PACK_MAGIC.length;
    this.queuedBytes += PACK_MAGIC.length;
    return this.current;
  }

  private segmentFor(pack: { id: number; fd: number; end: number }, bytes: number): Segment {
    const last = this.queue.at(-1);
    if (
      last &&
      last.pack === pack.id &&
      last.position + last.used === pack.end &&
      last.used + bytes <= last.buf.length
    ) {
      return last;
    }
    const seg: Segment = {
      pack: pack.id,
      fd: pack.fd,
      position: pack.end,
      buf: Buffer.allocUnsafeSlow(Math.max(this.bufferBytes, bytes)),
      used: 0,
      entries: [],
      isWritten: false,
    };
    this.queue.push(seg);
    return seg;
  }

  /** flushIfFull writes the queued segments synchronously once they hold `bufferBytes`; memory stays bounded. */
  flushIfFull(): void {
    if (this.queuedBytes < this.bufferBytes) return;
    while (this.queue.length > 0) {
      const seg = this.queue[0];
      writeAllAtSync(this.fs, seg.fd, seg.buf.subarray(0, seg.used), seg.position);
      this.wrote(seg);
      this.queue.shift();
      this.queuedBytes -= seg.used;
    }
  }

  private wrote(seg: Segment): void {
    seg.isWritten = true;
    this.dirty.add(seg.pack);
    for (const e of seg.entries) e.data = undefined;
  }

  /** takeBatch detaches everything queued and every chunk appended since the last batch. */
  takeBatch(): WriteBatch {
    const batch = { segments: this.queue, entries: this.unsynced, needsDirSync: this.needsDirSync };
    this.queue = [];
    this.queuedBytes = 0;
    this.unsynced = [];
    this.needsDirSync = false;
    return batch;
  }

  /** writeBatch writes a batch's segments with asynchronous positioned writes. */
  async writeBatch(batch: WriteBatch): Promise<void> {
    for (const seg of batch.segments) {
      await writeAllAt(this.fs, seg.fd, seg.buf.subarray(0, seg.used), seg.position);
      this.wrote(seg);
    }
  }

  /** returnBatch puts back what a failed writeBatch did not write, for the next sync to retry. */
  returnBatch(batch: WriteBatch): void {
    const left = batch.segments.filter((s) => !s.isWritten);
    this.queue = [...left, ...this.queue];
    for (const s of left) this.queuedBytes += s.used;
    this.unsynced = [...batch.entries, ...this.unsynced];
    this.needsDirSync ||= batch.needsDirSync;
  }

  /** takeDirty returns the descriptors of packs written since the last call: they need an fdatasync. */
  takeDirty(): number[] {
    const fds = [...this.dirty].map((id) => this.fds.get(id)!);
    this.dirty.clear();
    return fds;
  }

  /** takeSealed returns the packs closed for appending since the last call. */
  takeSealed(): number[] {
    const ids = this.sealed;
    this.sealed = [];
    return ids;
  }

  /** closeRetired closes the descriptors of full packs that have nothing left to write or sync. */
  closeRetired(): void {
    for (const id of this.retired) {
      if (this.dirty.has(id) || this.queue.some((s) => s.pack === id)) continue;
      this.fs.closeSync(this.fds.get(id)!);
      this.fds.delete(id);
      this.retired.delete(id);
    }
  }

  /** fdOf returns the write descriptor of a pack this writer still holds open. */
  fdOf(pack: number): number | undefined {
    return this.fds.get(pack);
  }

  /** closeAll closes every descriptor; queued data that was not synced is dropped. */
  closeAll(): void {
    for (const fd of this.fds.values()) this.fs.closeSync(fd);
    this.fds.clear();
    this.current = undefined;
  }
}
