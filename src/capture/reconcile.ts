import type { BigIntStats } from 'node:fs';
import { promises as fsp, lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, EventSink } from '../core/index.ts';
import { errorMessage, isHindsightError } from '../core/index.ts';
import { type ChunkStore, ingestFile } from '../store/index.ts';
import type { ChangeBatch } from './change-batch.ts';
import type { FileKind, FileRowDraft, FileRows } from './file-rows.ts';
import { isSameFileState } from './file-rows.ts';
import type { ChangeDraft } from './outbox.ts';

/** EntryKind is what lstat says a directory entry is; `special` covers devices, FIFOs, sockets. */
export type EntryKind = FileKind | 'special';

/**
 * Outcome is what reconciling one path did: nothing (`same`), recorded a change (`changed`),
 * found a directory whose content capture has never seen (`new-dir`, so the caller scans it),
 * could not read a file that was being written (`unstable`, try again later), skipped it (a
 * device, FIFO or socket), could not read or store it (`failed`: a read error, a full or failing
 * state directory; capture tries again soon), or found it gone.
 */
export type Outcome = 'same' | 'changed' | 'new-dir' | 'unstable' | 'skipped' | 'failed' | 'gone';

/** SUBTREE_PAGE is how many rows one step of a subtree delete reads. */
const SUBTREE_PAGE = 1000;

/**
 * Reconciler compares one path on disk with what the `files` table says capture last saw, and
 * adds the changes that make the outbox catch up. Scan and watch share it, so a path is judged
 * the same way whoever noticed it.
 */
export class Reconciler {
  readonly #root: string;
  readonly #rows: FileRows;
  readonly #batch: ChangeBatch;
  readonly #store: ChunkStore;
  readonly #events: EventSink;
  readonly #clock: Clock;
  readonly #volume: string;

  constructor(deps: {
    root: string;
    rows: FileRows;
    batch: ChangeBatch;
    store: ChunkStore;
    events: EventSink;
    clock: Clock;
    volume: string;
  }) {
    this.#root = deps.root;
    this.#rows = deps.rows;
    this.#batch = deps.batch;
    this.#store = deps.store;
    this.#events = deps.events;
    this.#clock = deps.clock;
    this.#volume = deps.volume;
  }

  /** rowOf returns what capture recorded of `path`, including what the open batch will record. */
  rowOf(path: string): FileRowDraft | undefined {
    const pending = this.#batch.pendingRow(path);
    if (pending !== undefined) return pending ?? undefined;
    return this.#rows.get(path);
  }

  /**
   * reconcile brings the outbox in line with entry `path` whose lstat is `st` (null: gone).
   * `row` is the recorded state, already looked up by the caller. The caller has applied the
   * include/exclude rules: an entry that is not captured is passed as gone.
   */
  async reconcile(path: string, st: BigIntStats | null, row: FileRowDraft | undefined): Promise<Outcome> {
    if (st === null) {
      if (row) await this.deleteSubtree(path, row.kind);
      return 'gone';
    }
    const kind = entryKind(st);
    let known = row;
    if (known && known.kind !== kind) {
      // A path that changed type (file → dir, …) is deleted first, with all it held.
      await this.deleteSubtree(path, known.kind);
      known = undefined;
    }
    if (kind === 'special') {
      this.#events.emit({
        level: 'warn',
        type: 'capture.skipped',
        volume: this.#volume,
        msg: 'device, FIFO or socket not captured',
        data: { path, mode: Number(st.mode) },
      });
      return 'skipped';
    }
    if (this.isUnchanged(st, known)) return 'same';
    const now = draftOf(path, kind, st);
    if (kind === 'dir') return this.#reconcileDir(now, known);
    if (kind === 'symlink') return this.#reconcileSymlink(now, known);
    return this.#reconcileFile(now, known);
  }

  /**
   * isUnchanged says, without any I/O, whether the entry whose lstat is `st` is what `row`
   * recorded: for a file or symlink the same size, mtime, ctime, inode and mode; for a directory
   * the same inode and mode (its times change with every entry). reconcile answers `same` then.
   */
  isUnchanged(st: BigIntStats, row: FileRowDraft | undefined): boolean {
    if (row === undefined) return false;
    const kind = entryKind(st);
    if (kind !== row.kind) return false;
    if (kind === 'dir') return row.ino === BigInt.asIntN(64, st.ino) && row.mode === st.mode;
    return isSameFileState({ ...row, seq: 0 }, draftOf('', kind, st));
  }

  /**
   * deleteSubtree records a delete for `path` and, for a directory, for every recorded path
   * beneath it, deepest first, so that every path ends with its own delete in the outbox.
   */
  async deleteSubtree(path: string, kind: FileKind): Promise<void> {
    if (kind !== 'dir') {
      await this.#batch.add(this.#deleteChange(path), { deleted: path });
      return;
    }
    // The catalog must be current before it is read page by page; each page is flushed, so
    // the next query starts where the last one stopped.
    await this.#batch.flush();
    for (;;) {
      const paths = this.#rows.subtreeDeepestFirst(path, SUBTREE_PAGE);
      if (paths.length === 0) break;
      for (const p of paths) await this.#batch.add(this.#deleteChange(p), { deleted: p });
      await this.#batch.flush();
    }
  }

  async #reconcileDir(now: FileRowDraft, known: FileRowDraft | undefined): Promise<Outcome> {
    const isNew = !known || known.ino !== now.ino;
    await this.#batch.add(this.#change(now, isNew ? 'mkdir' : 'meta'), now);
    return isNew ? 'new-dir' : 'changed';
  }

  async #reconcileSymlink(now: FileRowDraft, known: FileRowDraft | undefined): Promise<Outcome> {
    let target: string;
    try {
      target = await fsp.readlink(join(this.#root, now.path));
    } catch (err) {
      // Renamed or replaced since lstat, as files can be (#reconcileFile): not a read error.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        if (known) await this.deleteSubtree(now.path, known.kind);
        return 'gone';
      }
      if (code === 'EINVAL') return 'unstable'; // no longer a link
      return this.#readFailed(now.path, err);
    }
    await this.#batch.add({ ...this.#change(now, 'symlink'), target }, now);
    return 'changed';
  }

  async #reconcileFile(now: FileRowDraft, known: FileRowDraft | undefined): Promise<Outcome> {
    let got: Awaited<ReturnType<typeof ingestFile>>;
    try {
      got = await ingestFile(join(this.#root, now.path), this.#store);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        if (known) await this.deleteSubtree(now.path, known.kind);
        return 'gone';
      }
      // Replaced by a directory, a link or a FIFO since lstat: look again once it settles.
      if (isHindsightError(err, 'E_INGEST_NOT_FILE') || code === 'EISDIR') return 'unstable';
      return this.#readFailed(now.path, err);
    }
    if (!got.stable) return 'unstable';
    const read: FileRowDraft = {
      path: now.path,
      kind: 'file',
      size: BigInt(got.stat.size),
      mtimeNs: BigInt(got.stat.mtimeNs),
      ctimeNs: BigInt(got.stat.ctimeNs),
      // ingest reports ino as a number; keep lstat's exact value when it is the same file.
      ino: Number(now.ino) === got.stat.ino ? now.ino : BigInt.asIntN(64, BigInt(got.stat.ino)),
      mode: BigInt(got.stat.mode),
    };
    const change = { ...this.#change(read, 'put'), chunks: got.chunks, size: Number(got.size) };
    await this.#batch.add(change, read, got.newBytes);
    return 'changed';
  }

  #readFailed(path: string, err: unknown): Outcome {
    const code = (err as NodeJS.ErrnoException).code;
    // No permission stays so until someone acts: the hourly scan looks again. Anything else (an
    // I/O error, our own store full or failing) may pass at any moment: capture tries again soon.
    const isLasting = code === 'EACCES' || code === 'EPERM';
    this.#events.emit({
      level: 'error',
      type: 'capture.read-error',
      volume: this.#volume,
      msg: isLasting
        ? 'could not read a path; it is retried at the next scan'
        : 'could not read or store a path; it is retried soon',
      data: { path, error: errorMessage(err), code: isHindsightError(err) ? err.code : code },
    });
    return isLasting ? 'skipped' : 'failed';
  }

  #change(row: FileRowDraft, kind: ChangeDraft['kind']): ChangeDraft {
    return {
      path: row.path,
      kind,
      mode: Number(row.mode & 0o7777n),
      mtimeMs: Number(row.mtimeNs / 1_000_000n),
      size: 0,
      chunks: null,
      target: null,
      capturedAt: this.#clock.now(),
    };
  }

  #deleteChange(path: string): ChangeDraft {
    return {
      path,
      kind: 'delete',
      mode: 0,
      mtimeMs: 0,
      size: 0,
      chunks: null,
      target: null,
      capturedAt: this.#clock.now(),
    };
  }
}

/** entryKind classifies an lstat result. */
export function entryKind(st: BigIntStats): EntryKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'special';
}

/**
 * fileRowOf is what capture would record of an entry with this lstat, or null for a special
 * file (capture skips those). A promoted mirror fills its `files` table with it.
 */
export function fileRowOf(path: string, st: BigIntStats): FileRowDraft | null {
  const kind = entryKind(st);
  return kind === 'special' ? null : draftOf(path, kind, st);
}

function draftOf(path: string, kind: FileKind, st: BigIntStats): FileRowDraft {
  return {
    path,
    kind,
    size: kind === 'dir' ? 0n : st.size,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    ino: BigInt.asIntN(64, st.ino),
    mode: st.mode,
  };
}

/** lstatOrNullSync is lstatOrNull without the round trip through the thread pool (see Scanner). */
export function lstatOrNullSync(abs: string): BigIntStats | null {
  try {
    return lstatSync(abs, { bigint: true, throwIfNoEntry: false }) ?? null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') return null;
    throw err;
  }
}

/** lstatOrNull returns the lstat of `abs`, or null when it (or a parent) no longer exists. */
export async function lstatOrNull(abs: string): Promise<BigIntStats | null> {
  try {
    return await fsp.lstat(abs, { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}
