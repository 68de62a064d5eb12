import { chmod, type FileHandle, lutimes, mkdir, open, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { checkRelativePath } from '../core/index.ts';
import type { ChunkPlace, ManifestEntry } from './repository.ts';
import { SmallFileWriter } from './small-files.ts';
import { tierMissing } from './tier.ts';

/** PACKS_AHEAD is how many whole packs are read ahead of the one being restored from. */
const PACKS_AHEAD = 2;
/** PACKS_HELD bounds the whole packs kept (about 8 MiB each), read ahead or still wanted. */
const PACKS_HELD = 6;
/** WRITE_BYTES is how much of a file is gathered before one write of it. */
const WRITE_BYTES = 4 * 1024 * 1024;
/** SMALL_FILE_BYTES is the size up to which a file is written whole, by a SmallFileWriter. */
const SMALL_FILE_BYTES = 64 * 1024;
/** WRITES_IN_FLIGHT bounds the writes under way (files and pieces), and with it the memory they hold. */
const WRITES_IN_FLIGHT = 16;

/** RestoreSource is what a restore reads: where each chunk is, packs from the tier, and checked chunks. */
export interface RestoreSource {
  readonly url: string;
  place(id: string): ChunkPlace | undefined;
  /** readPack returns a pack whole, or its `range`. */
  readPack(pack: string, range?: { offset: number; length: number }): Promise<Buffer>;
  /** openChunk decrypts chunk `id` and checks it against its id; `path` names the file in errors. */
  openChunk(id: string, sealed: Buffer, path: string): Buffer;
}

/**
 * restoreTree writes `entries` (in path order) into directory `into`, with modes and times. It
 * reads each pack whole, once, in the order the files want them and a few ahead (a pack with
 * only one wanted chunk is read by its range), and writes files in large positioned writes,
 * several at once. Directories get their times last: writing into them changed them.
 */
export async function restoreTree(
  source: RestoreSource,
  entries: ManifestEntry[],
  into: string,
): Promise<{ files: number; bytes: number }> {
  const packs = new PackFeed(source, entries);
  const writes = new WriteQueue();
  const small = new SmallFileWriter();
  const made = new Set<string>();
  const makeDir = async (dir: string) => {
    if (made.has(dir)) return;
    await mkdir(dir, { recursive: true });
    made.add(dir);
  };
  let files = 0;
  let bytes = 0;
  const dirs: ManifestEntry[] = [];
  try {
    for (const e of entries) {
      const target = join(into, checkRelativePath(e.path));
      await makeDir(dirname(target));
      if (e.kind === 'mkdir') {
        await makeDir(target);
        dirs.push(e);
      } else if (e.kind === 'symlink') {
        await symlink(e.target ?? '', target);
        await lutimes(target, e.mtimeMs / 1000, e.mtimeMs / 1000);
      } else {
        bytes += await restoreFile(e, target, packs, writes, small);
        files++;
      }
    }
  } finally {
    // Every write started is waited for, even after a failure: none may land after we return.
    await writes.settle();
    await small.close().catch(() => {}); // waits for every batch; its failure is thrown below
  }
  await writes.drain();
  await small.close(); // closed already: throws the first failure of a small file, if any
  for (const d of dirs.reverse()) {
    const target = join(into, d.path);
    await chmod(target, d.mode);
    await lutimes(target, d.mtimeMs / 1000, d.mtimeMs / 1000);
  }
  return { files, bytes };
}

/**
 * restoreFile queues the writes of one file, gathered WRITE_BYTES at a time, and returns its
 * size. A small file is handed whole to `small`, which writes it on another thread.
 */
async function restoreFile(
  e: ManifestEntry,
  target: string,
  packs: PackFeed,
  writes: WriteQueue,
  small: SmallFileWriter,
): Promise<number> {
  if (e.size <= SMALL_FILE_BYTES) {
    const parts: Buffer[] = [];
    let size = 0;
    for (const id of e.chunks) {
      const part = await packs.chunk(id, e.path);
      parts.push(part);
      size += part.length;
    }
    await small.add(target, e.mode, e.mtimeMs, parts);
    return size;
  }
  const handle = open(target, 'w', 0o600);
  handle.catch(() => {}); // awaited by the file's writes; a failure is thrown there
  const pieces: Promise<void>[] = [];
  let parts: Buffer[] = [];
  let gathered = 0;
  let at = 0;
  const flush = async () => {
    const data = parts;
    const position = at;
    at += gathered;
    parts = [];
    gathered = 0;
    pieces.push((await writes.add(async () => writeAll(await handle, data, position))).done);
  };
  for (const id of e.chunks) {
    const plain = await packs.chunk(id, e.path);
    parts.push(plain);
    gathered += plain.length;
    if (gathered >= WRITE_BYTES) await flush();
  }
  if (gathered > 0 || pieces.length === 0) await flush();
  await writes.add(async () => {
    const fh = await handle;
    try {
      await Promise.all(pieces);
      await fh.chmod(e.mode);
      await fh.utimes(e.mtimeMs / 1000, e.mtimeMs / 1000);
    } finally {
      await fh.close();
    }
  });
  return at;
}

/** writeAll writes `parts` at `position` in one call (no copy into one buffer); a short write is finished piece by piece. */
async function writeAll(handle: FileHandle, parts: Buffer[], position: number): Promise<void> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  let done = parts.length === 0 ? 0 : (await handle.writev(parts, position)).bytesWritten;
  if (done === total) return;
  const rest = Buffer.concat(parts).subarray(done);
  for (let at = 0; at < rest.length; ) {
    const { bytesWritten } = await handle.write(rest, at, rest.length - at, position + done);
    at += bytesWritten;
    done += bytesWritten;
  }
}

/**
 * WriteQueue runs writes a few at a time; `add` waits while too many are under way, and a
 * failed write is thrown by the `add` or `drain` that waits for it.
 */
class WriteQueue {
  readonly #running: Promise<void>[] = [];

  /** add starts `write` once there is room; `done` is its promise (already handled: await it to see its failure). */
  async add(write: () => Promise<void>): Promise<{ done: Promise<void> }> {
    while (this.#running.length >= WRITES_IN_FLIGHT) await this.#running.shift();
    const run = write();
    run.catch(() => {});
    this.#running.push(run);
    return { done: run };
  }

  async drain(): Promise<void> {
    while (this.#running.length > 0) await this.#running.shift();
  }

  /** settle waits for every write under way, failed or not. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.#running);
  }
}

/**
 * PackFeed hands out the chunks of a restore in the order it will ask for them, reading each
 * pack whole once (and the next few ahead, so that reading overlaps decrypting and writing) and
 * dropping it when no chunk of it is wanted any more.
 */
class PackFeed {
  readonly #source: RestoreSource;
  /** How many more times each pack will be asked for a chunk. */
  readonly #wanted = new Map<string, number>();
  /** The packs in the order they are first wanted (and each one's place in it), and how far the restore has got. */
  readonly #order: string[] = [];
  readonly #orderOf = new Map<string, number>();
  #ahead = 0;
  readonly #held = new Map<string, Promise<Buffer>>();

  constructor(source: RestoreSource, entries: ManifestEntry[]) {
    this.#source = source;
    for (const e of entries) {
      for (const id of e.chunks) {
        const pack = source.place(id)?.pack;
        if (pack === undefined) continue; // said when it is asked for, naming the file
        const n = this.#wanted.get(pack) ?? 0;
        if (n === 0) this.#orderOf.set(pack, this.#order.push(pack) - 1);
        this.#wanted.set(pack, n + 1);
      }
    }
  }

  async chunk(id: string, path: string): Promise<Buffer> {
    const place = this.#source.place(id);
    if (!place) throw tierMissing(this.#source.url, `chunk ${id} of ${path}`);
    const left = (this.#wanted.get(place.pack) ?? 1) - 1;
    this.#wanted.set(place.pack, left);
    let whole = this.#held.get(place.pack);
    if (!whole && left === 0) {
      // The one chunk of this pack still wanted: its range, not the pack.
      this.#readAhead(place.pack);
      return this.#source.openChunk(id, await this.#source.readPack(place.pack, place), path);
    }
    if (!whole) whole = this.#hold(place.pack);
    this.#readAhead(place.pack);
    const bytes = await whole;
    if (left === 0) this.#held.delete(place.pack);
    return this.#source.openChunk(id, bytes.subarray(place.offset, place.offset + place.length), path);
  }

  #hold(pack: string): Promise<Buffer> {
    const read = this.#source.readPack(pack);
    read.catch(() => {}); // a failure is thrown to the chunk that awaits it
    this.#held.set(pack, read);
    while (this.#held.size > PACKS_HELD) this.#held.delete(this.#held.keys().next().value as string);
    return read;
  }

  /** #readAhead starts reading the next packs after `current` in first-wanted order. */
  #readAhead(current: string): void {
    // A pack wanted again later (a chunk shared with an earlier file) does not move the front back.
    this.#ahead = Math.max(this.#ahead, this.#orderOf.get(current) ?? 0);
    for (let i = this.#ahead + 1; i <= this.#ahead + PACKS_AHEAD && i < this.#order.length; i++) {
      const pack = this.#order[i];
      if (!this.#held.has(pack) && (this.#wanted.get(pack) ?? 0) > 1 && this.#held.size < PACKS_HELD)
        this.#hold(pack);
    }
  }
}
