import { constants, promises as fsp } from 'node:fs';
import { HindsightError } from '../core/index.ts';
import type { ChunkStore } from './chunk-store.ts';
import { type ChunkerParams, DEFAULT_CHUNKER_PARAMS, DEFAULT_READ_BLOCK, readChunks } from './chunker.ts';
import { hashChunk } from './hash.ts';

/** IngestStat is what fstat said of an ingested file, for the catalog's skip test on rescan. */
export interface IngestStat {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: number;
  mode: number;
}

/** IngestResult describes one ingested file: its chunk list and whether it held still meanwhile. */
export interface IngestResult {
  /** The chunk hashes in file order, concatenated (32 bytes each). */
  chunks: Buffer;
  /** Bytes read: the content that `chunks` describes. */
  size: number;
  /** False when size, mtime or ctime changed during the read: the caller reads it again later. */
  stable: boolean;
  /** Raw bytes of the chunks that were new to the store. */
  newBytes: number;
  /** fstat after the read. */
  stat: IngestStat;
}

/** IngestOptions tune ingestFile. */
export interface IngestOptions {
  params?: ChunkerParams;
  /** Read size; memory use is this plus one maximal chunk. */
  blockSize?: number;
  /** Test hook: runs after each block is read, before it is chunked. */
  afterRead?: (bytesSoFar: number) => void | Promise<void>;
}

/** MIN_READ_BLOCK is the smallest read buffer ingest uses, whatever the file's size. */
const MIN_READ_BLOCK = 64 * 1024;

/**
 * ingestFile reads a regular file, splits it into chunks and puts each into `store` (pending:
 * the caller syncs and commits). It never follows a symlink (O_NOFOLLOW) and never blocks on a
 * FIFO (O_NONBLOCK); anything but a regular file is refused with E_INGEST_NOT_FILE. Memory is
 * bounded by one read block whatever the file's size. The file is fstat'ed before and after, so
 * a file written while it was read comes back with `stable: false` rather than as a torn copy
 * that looks settled. Errors of open and read (ENOENT, EACCES, EIO) are thrown as they are.
 */
export async function ingestFile(
  path: string,
  store: ChunkStore,
  options: IngestOptions = {},
): Promise<IngestResult> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(
      path,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY,
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw notFile(path, 'a symbolic link', err);
    throw err;
  }
  try {
    const before = await fh.stat({ bigint: true });
    if (!before.isFile()) throw notFile(path, 'not a regular file', undefined);
    const hashes: Buffer[] = [];
    let size = 0;
    let newBytes = 0;
    let position = 0;
    const read = async (buf: Buffer, offset: number, length: number): Promise<number> => {
      const { bytesRead } = await fh.read(buf, offset, length, position);
      position += bytesRead;
      if (options.afterRead) await options.afterRead(position);
      return bytesRead;
    };
    // A small file gets a small buffer: a 4 MiB block per 2 KiB file made the scan of many
    // small files spend most of its time allocating and collecting (one byte more than the size
    // still notices a file that grew).
    const blockSize = Math.min(
      options.blockSize ?? DEFAULT_READ_BLOCK,
      Math.max(MIN_READ_BLOCK, Number(before.size) + 1),
    );
    for await (const chunk of readChunks(read, options.params ?? DEFAULT_CHUNKER_PARAMS, blockSize)) {
      const hash = hashChunk(chunk);
      if (store.putRaw(hash, chunk)) newBytes += chunk.length;
      hashes.push(hash);
      size += chunk.length;
    }
    const after = await fh.stat({ bigint: true });
    const stable =
      after.size === before.size &&
      after.mtimeNs === before.mtimeNs &&
      after.ctimeNs === before.ctimeNs &&
      after.size === BigInt(size);
    return {
      chunks: Buffer.concat(hashes, hashes.length * 32),
      size,
      stable,
      newBytes,
      stat: {
        size: Number(after.size),
        mtimeNs: after.mtimeNs,
        ctimeNs: after.ctimeNs,
        ino: Number(after.ino),
        mode: Number(after.mode),
      },
    };
  } finally {
    await fh.close();
  }
}

function notFile(path: string, what: string, cause: unknown): HindsightError {
  return new HindsightError('E_INGEST_NOT_FILE', `cannot ingest ${path}: ${what}`, {
    cause,
    hint: 'only regular files are read as content; links are captured as links',
  });
}
