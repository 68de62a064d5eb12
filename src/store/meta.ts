import type { Catalog } from './catalog.ts';

/**
 * The `meta` table is a small key-value store of the catalog, for single values a stage keeps
 * beside its tables (the funnel clock's offset, a volume's history floor, a pending seed, a
 * witness's vote). This file is the only one that spells its SQL; each key belongs to the stage
 * that writes it, named in docs/architecture.md. Values are text: callers encode their own.
 */

/** readMeta returns the value of `key`, or undefined. */
export function readMeta(catalog: Catalog, key: string): string | undefined {
  const row = catalog.prepare('SELECT value FROM meta WHERE key = ?').get(key) as
    | { value: string }
    | undefined;
  return row?.value;
}

/** writeMeta sets `key` to `value`, replacing what was there; durable when its transaction commits. */
export function writeMeta(catalog: Catalog, key: string, value: string): void {
  catalog
    .prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    )
    .run(key, value);
}

/** deleteMeta removes `key`; a missing key is not an error. */
export function deleteMeta(catalog: Catalog, key: string): void {
  catalog.prepare('DELETE FROM meta WHERE key = ?').run(key);
}
