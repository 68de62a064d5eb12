import type { StatementSync } from 'node:sqlite';
import type { Catalog } from '../store/index.ts';

/** FileKind is what capture records of a path in the `files` table. */
export type FileKind = 'file' | 'dir' | 'symlink';

/** FileRow is what capture last saw of one path: the identity a rescan compares against. */
export interface FileRow {
  path: string;
  kind: FileKind;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  mode: bigint;
  /** The seq of the change that recorded this state. */
  seq: number;
}

/** FileRowDraft is a FileRow before its change has a seq; the outbox fills the seq in. */
export type FileRowDraft = Omit<FileRow, 'seq'>;

/** FileRowsUpdate is what one outbox append writes to the `files` table in its transaction. */
export interface FileRowsUpdate {
  upserts: FileRowDraft[];
  deletes: string[];
}

/**
 * FileRows reads the `files` table (capture's; FileRowWriter below is its only writer) of one volume without ever loading it whole: lookups are by
 * path, by the direct children of one directory, or by bounded pages of a subtree, so memory
 * stays bounded by the size of one directory however large the volume is.
 */
export class FileRows {
  readonly #volume: string;
  readonly #get: StatementSync;
  readonly #after: StatementSync;
  readonly #from: StatementSync;
  readonly #subtreeDesc: StatementSync;
  readonly #any: StatementSync;

  constructor(catalog: Catalog, volume: string) {
    this.#volume = volume;
    const cols = 'path, kind, size, mtime_ns, ctime_ns, ino, mode, seq';
    this.#get = catalog.prepare(`SELECT ${cols} FROM files WHERE volume = ? AND path = ?`);
    this.#after = catalog.prepare(`SELECT ${cols} FROM files WHERE volume = ? AND path > ? ORDER BY path`);
    this.#from = catalog.prepare(`SELECT ${cols} FROM files WHERE volume = ? AND path >= ? ORDER BY path`);
    this.#subtreeDesc = catalog.prepare(
      `SELECT path FROM files WHERE volume = ? AND (path = ? OR (path > ? AND path < ?))
       ORDER BY path DESC LIMIT ?`,
    );
    this.#any = catalog.prepare('SELECT 1 AS one FROM files WHERE volume = ? LIMIT 1');
    for (const s of [this.#get, this.#after, this.#from]) s.setReadBigInts(true);
  }

  /** get returns the row of `path`, or undefined. */
  get(path: string): FileRow | undefined {
    const row = this.#get.get(this.#volume, path);
    return row ? toFileRow(row) : undefined;
  }

  /** hasAny tells whether capture has recorded anything of the volume. */
  hasAny(): boolean {
    return this.#any.get(this.#volume) !== undefined;
  }

  /**
   * children returns the rows of the direct children of directory `dir` ('' is the root), keyed
   * by name. It reads the index in order and, on reaching the subtree of a child directory,
   * seeks past it instead of reading it: one seek per child directory, a step per child file.
   */
  children(dir: string): Map<string, FileRow> {
    const prefix = dir === '' ? '' : `${dir}/`;
    const out = new Map<string, FileRow>();
    let rows = this.#after.iterate(this.#volume, prefix);
    for (;;) {
      let skipTo: string | undefined;
      for (const row of rows) {
        const r = toFileRow(row as Record<string, unknown>);
        if (!r.path.startsWith(prefix)) break;
        const rest = r.path.slice(prefix.length);
        const slash = rest.indexOf('/');
        if (slash < 0) {
          out.set(rest, r);
          continue;
        }
        // '0' is the character after '/', so this skips every path below that child.
        skipTo = `${prefix}${rest.slice(0, slash)}0`;
        break;
      }
      if (skipTo === undefined) return out;
      rows = this.#from.iterate(this.#volume, skipTo);
    }
  }

  /**
   * subtreeDeepestFirst returns up to `limit` paths of `path` and everything below it, deepest
   * first (descending order puts every path before its ancestors). Callers delete what they got
   * and ask again until it is empty.
   */
  subtreeDeepestFirst(path: string, limit: number): string[] {
    const rows = this.#subtreeDesc.all(this.#volume, path, `${path}/`, `${path}0`, limit);
    return rows.map((r) => r.path as string);
  }
}

/**
 * FileRowWriter is the only writer of the `files` table: the outbox calls it inside each append
 * (so a row and the change it records commit together), and a role change calls it when the
 * volume's primary moves here or away.
 */
export class FileRowWriter {
  readonly #catalog: Catalog;
  readonly #upsert: StatementSync;
  readonly #delete: StatementSync;

  constructor(catalog: Catalog) {
    this.#catalog = catalog;
    this.#upsert = catalog.prepare(
      `INSERT INTO files (volume, path, kind, size, mtime_ns, ctime_ns, ino, mode, seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (volume, path) DO UPDATE SET kind = excluded.kind, size = excluded.size,
         mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, ino = excluded.ino,
         mode = excluded.mode, seq = excluded.seq`,
    );
    this.#delete = catalog.prepare('DELETE FROM files WHERE volume = ? AND path = ?');
  }

  /** upsert records what capture saw of one path, with the seq of the change that recorded it. */
  upsert(volume: string, r: FileRow): void {
    this.#upsert.run(volume, r.path, r.kind, r.size, r.mtimeNs, r.ctimeNs, r.ino, r.mode, r.seq);
  }

  /** delete forgets one path. */
  delete(volume: string, path: string): void {
    this.#delete.run(volume, path);
  }

  /** forget drops every row of a volume (it is no longer captured here). */
  forget(volume: string): void {
    this.#catalog.prepare('DELETE FROM files WHERE volume = ?').run(volume);
  }

  /** paths yields every path recorded of a volume. */
  *paths(volume: string): Iterable<string> {
    const rows = this.#catalog.prepare('SELECT path FROM files WHERE volume = ?').iterate(volume);
    for (const r of rows as Iterable<{ path: string }>) yield r.path;
  }
}

function toFileRow(row: Record<string, unknown>): FileRow {
  return {
    path: row.path as string,
    kind: row.kind as FileKind,
    size: row.size as bigint,
    mtimeNs: row.mtime_ns as bigint,
    ctimeNs: row.ctime_ns as bigint,
    ino: row.ino as bigint,
    mode: row.mode as bigint,
    seq: Number(row.seq as bigint),
  };
}

/** isSameFileState tells whether a row still describes what lstat reports now. */
export function isSameFileState(row: FileRow, now: FileRowDraft): boolean {
  return (
    row.kind === now.kind &&
    row.size === now.size &&
    row.mtimeNs === now.mtimeNs &&
    row.ctimeNs === now.ctimeNs &&
    row.ino === now.ino &&
    row.mode === now.mode
  );
}
