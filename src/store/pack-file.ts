import { readdirSync, readSync } from 'node:fs';
import { HASH_BYTES, HindsightError } from '../core/index.ts';
import type { FileOps } from '../sys/index.ts';

/**
 * The pack file format (docs/pack-format.md): an 8-byte magic, then records
 * `hash(32) | codec(u8) | rawLen(u32 BE) | storedLen(u32 BE) | data(storedLen)`, appended only.
 * The catalog's `chunks.offset` points at a record's data; the header before it repeats the
 * hash and lengths so a reader can check that the index and the pack agree.
 */

/** PACK_MAGIC starts every pack file; a file without it is not read as a pack. */
export const PACK_MAGIC: Buffer = Buffer.from('HSPACK01', 'latin1');

/** RECORD_HEADER_BYTES is the length of the header in front of each chunk's data. */
export const RECORD_HEADER_BYTES = HASH_BYTES + 1 + 4 + 4;

/** DEFAULT_PACK_BYTES is the size beyond which a new pack file is started. */
export const DEFAULT_PACK_BYTES = 64 * 1024 * 1024;

/** RecordHeader is the decoded header of one pack record. */
export interface RecordHeader {
  hash: Buffer;
  codec: number;
  rawLen: number;
  storedLen: number;
}

const PACK_NAME = /^([0-9a-f]{8})\.pack$/;

/** packFileName returns the file name of pack `id`: eight hex digits and `.pack`. */
export function packFileName(id: number): string {
  return `${id.toString(16).padStart(8, '0')}.pack`;
}

/** listPackIds returns the ids of the pack files in `dir`, ascending; other names are ignored. */
export function listPackIds(dir: string): number[] {
  const ids: number[] = [];
  for (const name of readdirSync(dir)) {
    const m = PACK_NAME.exec(name);
    if (m) ids.push(Number.parseInt(m[1], 16));
  }
  return ids.sort((a, b) => a - b);
}

/** writeRecordHeader encodes a record header into `buf` at `at`. */
export function writeRecordHeader(buf: Buffer, at: number, h: RecordHeader): void {
  h.hash.copy(buf, at, 0, HASH_BYTES);
  buf[at + HASH_BYTES] = h.codec;
  buf.writeUInt32BE(h.rawLen, at + HASH_BYTES + 1);
  buf.writeUInt32BE(h.storedLen, at + HASH_BYTES + 5);
}

/** readRecordHeader decodes the record header in `buf` at `at` (the hash is a view, not a copy). */
export function readRecordHeader(buf: Buffer, at: number): RecordHeader {
  return {
    hash: buf.subarray(at, at + HASH_BYTES),
    codec: buf[at + HASH_BYTES],
    rawLen: buf.readUInt32BE(at + HASH_BYTES + 1),
    storedLen: buf.readUInt32BE(at + HASH_BYTES + 5),
  };
}

/**
 * readExactSync reads `length` bytes at `position`, or throws E_CHUNK_CORRUPT if the file
 * ends first (a pack cut short by a crash or by damage). Synchronous on purpose: a chunk read
 * is small, mostly served from the page cache, and a thread-pool hop would cost more than it.
 */
export function readExactSync(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) {
      throw new HindsightError('E_CHUNK_CORRUPT', `pack ends before ${length} bytes at offset ${position}`, {
        hint: 'the pack file was truncated; run a store verify and resend the affected data',
      });
    }
    got += n;
  }
  return buf;
}

/** READ_WINDOW_BYTES is how much a ReadWindow reads at once: 64 chunks of the chunker's average. */
export const READ_WINDOW_BYTES = 1024 * 1024;

/**
 * ReadWindow serves reads that mostly follow one another through a pack (a backup of a tree in
 * path order reads the chunks about as they were written): one `pread` of READ_WINDOW_BYTES,
 * then views into it, instead of a call and a buffer for every chunk. Only for packs that no
 * longer change: a view is never read again from the file.
 *
 * The window reads into the same buffer each time, so **a view is valid only until the next
 * read** through the window: whoever reads must be done with a chunk before asking for the
 * next (a backup seals each chunk before it reads the next). A new buffer for every window was
 * a new `ArrayBuffer` per MiB read, and V8 counts those towards its next full collection.
 */
export class ReadWindow {
  #pack = -1;
  #start = 0;
  /** The buffer read into, and how much of it holds the window. */
  #buf: Buffer = Buffer.alloc(0);
  #bytes: Buffer = Buffer.alloc(0);

  /** read returns `length` bytes of pack `pack` (open as `fd`) at `position`, as a view into the window. */
  read(pack: number, fd: number, length: number, position: number): Buffer {
    const from = position - this.#start;
    if (pack !== this.#pack || from < 0 || from + length > this.#bytes.length) {
      if (this.#buf.length < length || this.#buf.length < READ_WINDOW_BYTES)
        this.#buf = Buffer.allocUnsafeSlow(Math.max(length, READ_WINDOW_BYTES));
      const buf = this.#buf;
      this.#pack = -1; // until the read below succeeded
      let got = 0;
      while (got < length) {
        const n = readSync(fd, buf, got, buf.length - got, position + got);
        if (n === 0) return readExactSync(fd, length, position); // says where the pack ends
        got += n;
      }
      this.#pack = pack;
      this.#start = position;
      this.#bytes = buf.subarray(0, got);
      return this.#bytes.subarray(0, length);
    }
    return this.#bytes.subarray(from, from + length);
  }
}

/** writeAllAt writes all of `data` at `position` (positioned, so concurrent writers of other ranges never mix). */
export async function writeAllAt(ops: FileOps, fd: number, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    done += await ops.write(fd, data, done, data.length - done, position + done);
  }
}

/** writeAllAtSync is writeAllAt for callers that cannot await (putRaw flushing a full buffer). */
export function writeAllAtSync(ops: FileOps, fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) {
    done += ops.writeSync(fd, data, done, data.length - done, position + done);
  }
}
