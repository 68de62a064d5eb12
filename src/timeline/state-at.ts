import type { Catalog } from '../store/index.ts';
import { toVersionRow, type VersionRow } from './versions.ts';

/**
 * Reading the timeline as of a moment. A moment is a seq: the state after every change up to
 * and including it. People name moments by production time; `seqAt` turns one into a seq.
 * Every function here reads only, so a preview or a listing never disturbs a view.
 */

/** seqAt returns the seq of the last change produced at or before `t` (ms), or 0 if none was. */
export function seqAt(catalog: Catalog, volume: string, t: number): number {
  const row = catalog
    .prepare(
      'SELECT seq FROM versions WHERE volume = ? AND produced_at <= ? ORDER BY produced_at DESC, seq DESC LIMIT 1',
    )
    .get(volume, t) as { seq: number } | undefined;
  return row?.seq ?? 0;
}

/** producedAtOf returns the production time of the change with `seq`, or null if it is not stored. */
export function producedAtOf(catalog: Catalog, volume: string, seq: number): number | null {
  const row = catalog
    .prepare('SELECT produced_at FROM versions WHERE volume = ? AND seq = ?')
    .get(volume, seq) as { produced_at: number } | undefined;
  return row?.produced_at ?? null;
}

/**
 * versionAt returns the state of one path at `seq`: the version valid then, or null when the
 * path did not exist. A directory's meta version is returned as a mkdir: it is the whole state.
 */
export function versionAt(catalog: Catalog, volume: string, path: string, seq: number): VersionRow | null {
  const row = catalog
    .prepare(
      'SELECT * FROM versions INDEXED BY versions_by_path WHERE volume = ? AND path = ? AND seq <= ? ORDER BY seq DESC LIMIT 1',
    )
    .get(volume, path, seq) as Record<string, unknown> | undefined;
  return row ? asState(toVersionRow(row)) : null;
}

/**
 * liveAt returns the state of every path that existed at `seq`, beneath `prefix` (the path
 * itself and everything under it; '' for the whole volume), in path order.
 */
export function liveAt(catalog: Catalog, volume: string, seq: number, prefix = ''): VersionRow[] {
  const [low, high] = prefixRange(prefix);
  const rows = catalog
    .prepare(
      `SELECT * FROM versions WHERE volume = ? AND seq <= ? AND (superseded_by IS NULL OR superseded_by > ?)
         AND kind != 'delete' AND path >= ? AND path < ? ORDER BY path`,
    )
    .all(volume, seq, seq, low, high) as Record<string, unknown>[];
  const out: VersionRow[] = [];
  for (const row of rows) {
    const v = asState(toVersionRow(row));
    if (v && (prefix === '' || v.path === prefix || v.path.startsWith(`${prefix}/`))) out.push(v);
  }
  return out;
}

/** childrenAt returns the entries directly beneath directory `dir` ('' for the root) at `seq`. */
export function childrenAt(catalog: Catalog, volume: string, seq: number, dir: string): VersionRow[] {
  const depth = dir === '' ? 0 : dir.split('/').length;
  return liveAt(catalog, volume, seq, dir).filter((v) => v.path.split('/').length === depth + 1);
}

/** ProducedChange is one change of the timeline by its production time, as `timeline` lists it. */
export interface ProducedChange {
  seq: number;
  /** Production time (ms). */
  at: number;
  path: string;
  kind: string;
  size: number;
}

/** changesProducedBetween yields the changes produced in [since, until], in seq order. */
export function* changesProducedBetween(
  catalog: Catalog,
  volume: string,
  since: number,
  until: number,
): Iterable<ProducedChange> {
  const rows = catalog
    .prepare(
      'SELECT seq, produced_at, path, kind, size FROM versions WHERE volume = ? AND produced_at >= ? AND produced_at <= ? ORDER BY seq',
    )
    .iterate(volume, since, until) as Iterable<{
    seq: number;
    produced_at: number;
    path: string;
    kind: string;
    size: number;
  }>;
  for (const r of rows) yield { seq: r.seq, at: r.produced_at, path: r.path, kind: r.kind, size: r.size };
}

/** pathsChangedBetween returns every path with a change in (fromSeq, toSeq], in either order of the two. */
export function pathsChangedBetween(catalog: Catalog, volume: string, a: number, b: number): string[] {
  const rows = catalog
    .prepare('SELECT DISTINCT path FROM versions WHERE volume = ? AND seq > ? AND seq <= ?')
    .all(volume, Math.min(a, b), Math.max(a, b)) as { path: string }[];
  return rows.map((r) => r.path);
}

/** asState turns a version into the path's state: null for a delete, a mkdir for a directory's meta. */
function asState(v: VersionRow): VersionRow | null {
  if (v.kind === 'delete') return null;
  if (v.kind === 'meta') return { ...v, kind: 'mkdir' };
  return v;
}

/**
 * prefixRange is the [low, high) range of paths that can lie at or beneath `prefix` in binary
 * order: 'a/b' up to 'a/b0' ('0' follows '/'). Callers still filter siblings like 'a/b.txt'.
 */
function prefixRange(prefix: string): [string, string] {
  if (prefix === '') return ['', '\u{10FFFF}'];
  return [prefix, `${prefix}0`];
}
