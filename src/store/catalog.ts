import { DatabaseSync } from 'node:sqlite';
import { HindsightError } from '../core/index.ts';
import { MIGRATIONS } from './schema.ts';

/** Catalog is the node's SQLite database: everything except chunk bytes. */
export type Catalog = DatabaseSync;

/**
 * openCatalog opens (creating if needed) the catalog at `file` and migrates it to the newest
 * schema. WAL with synchronous=FULL: a committed transaction survives a power cut, and readers
 * never block the writer. A catalog newer than this program is refused rather than guessed at.
 */
export function openCatalog(file: string): Catalog {
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number };
  const version = row.user_version;
  if (version > MIGRATIONS.length) {
    db.close();
    throw new HindsightError(
      'E_CATALOG_TOO_NEW',
      `catalog ${file} has schema ${version}; this program knows up to ${MIGRATIONS.length}`,
      { hint: 'run the newer hindsight version that wrote it' },
    );
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    inTransaction(db, () => {
      db.exec(MIGRATIONS[v]);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    });
  }
  return db;
}

/** inTransaction runs `fn` inside BEGIN IMMEDIATE … COMMIT, rolling back if it throws. */
export function inTransaction<T>(db: Catalog, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}
