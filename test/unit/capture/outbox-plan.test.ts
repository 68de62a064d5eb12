/**
 * Regression: the per-path trim of the outbox walked the primary key (every older change of the
 * volume) instead of the path index, so an initial scan of 50,000 files took 174 s, not 13 s.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TRIM_PATH_SQL } from '../../../src/capture/index.ts';
import { openCatalog } from '../../../src/store/index.ts';

test('the outbox trims a path through the path index', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hs-plan-'));
  const db = openCatalog(join(dir, 'catalog.db'));
  try {
    const plan = db
      .prepare(`EXPLAIN QUERY PLAN ${TRIM_PATH_SQL}`)
      .all('v', 'p', 10, 10)
      .map((r) => String(r.detail));
    assert.deepEqual(plan, ['SEARCH changes USING INDEX changes_by_path (volume=? AND path=? AND seq<?)']);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
