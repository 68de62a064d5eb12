import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type Change, isHindsightError } from '../../../src/core/index.ts';
import { type Catalog, inTransaction, openCatalog } from '../../../src/store/index.ts';
import {
  headSeq,
  PREVIOUS_VERSION_SQL,
  receivedPosition,
  recordVersions,
  versionsAfter,
} from '../../../src/timeline/index.ts';

const HASH = Buffer.alloc(32, 7);

function mk(seq: number, p: string, kind: Change['kind'] = 'put', extra: Partial<Change> = {}): Change {
  return {
    volume: 'vol',
    epoch: 1,
    seq,
    path: p,
    kind,
    mode: 0o644,
    mtimeMs: 1000,
    size: kind === 'put' ? 5 : 0,
    chunks: kind === 'put' ? HASH : null,
    target: kind === 'symlink' ? 'somewhere' : null,
    capturedAt: 2000,
    ...extra,
  };
}

describe('recordVersions', () => {
  let dir: string;
  let catalog: Catalog;
  const record = (changes: Change[], at = 3000) =>
    inTransaction(catalog, () =>
      recordVersions(catalog, changes, { wallMs: at, funnelMs: at, clockOffsetMs: 0 }, 'alpha'),
    );
  const count = () => (catalog.prepare('SELECT COUNT(*) AS n FROM versions').get() as { n: number }).n;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hindsight-versions-'));
    catalog = openCatalog(path.join(dir, 'catalog.db'));
  });
  afterEach(() => {
    catalog.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // Regression: a fractional clock offset once made produced_at a REAL and every batch was refused.
  it('keeps production time whole, corrected by the clock offset, never decreasing and never after receipt', () => {
    const receipt = (wallMs: number, clockOffsetMs: number) => ({ wallMs, funnelMs: wallMs, clockOffsetMs });
    inTransaction(catalog, () =>
      recordVersions(catalog, [mk(1, 'a', 'put', { capturedAt: 5000 })], receipt(9000, 1000.4), 'alpha'),
    );
    inTransaction(catalog, () =>
      recordVersions(catalog, [mk(2, 'b', 'put', { capturedAt: 4000 })], receipt(9100, 0.25), 'alpha'),
    );
    inTransaction(catalog, () =>
      recordVersions(catalog, [mk(3, 'c', 'put', { capturedAt: 99_000 })], receipt(9200, 0), 'alpha'),
    );
    const rows = catalog.prepare('SELECT seq, produced_at FROM versions ORDER BY seq').all();
    assert.deepEqual(
      rows.map((r) => ({ ...r })),
      [
        { seq: 1, produced_at: 4000 },
        { seq: 2, produced_at: 4000 },
        { seq: 3, produced_at: 9200 },
      ],
    );
  });

  it('stores versions and links each to the next version of its path', () => {
    record([mk(1, 'a'), mk(2, 'b'), mk(3, 'a', 'meta', { chunks: null, size: 0 })]);
    record([mk(4, 'a', 'delete', { mode: 0 })]);
    const rows = versionsAfter(catalog, 'vol', 0, 100);
    assert.deepEqual(
      rows.map((r) => [r.seq, r.path, r.kind, r.supersededBy]),
      [
        [1, 'a', 'put', 3],
        [2, 'b', 'put', null],
        [3, 'a', 'meta', 4],
        [4, 'a', 'delete', null],
      ],
    );
    assert.deepEqual(rows[0].chunks, HASH);
    assert.equal(rows[0].receivedAt, 3000);
    assert.equal(rows[0].capturedAt, 2000);
    assert.equal(rows[1].target, null);
    assert.equal(headSeq(catalog, 'vol'), 4);
    assert.deepEqual(
      versionsAfter(catalog, 'vol', 1, 2).map((r) => r.seq),
      [2, 3],
    );
  });

  it('keeps intervals right when an older version arrives after a newer one', () => {
    record([mk(1, 'a'), mk(5, 'a')]);
    record([mk(3, 'a')]);
    assert.deepEqual(
      versionsAfter(catalog, 'vol', 0, 10).map((r) => [r.seq, r.supersededBy]),
      [
        [1, 3],
        [3, 5],
        [5, null],
      ],
    );
  });

  it('ignores a re-delivered batch and never moves the receive position back', () => {
    record([mk(1, 'a'), mk(2, 'b')], 3000);
    record([mk(1, 'a', 'put', { size: 99 }), mk(2, 'b')], 9000);
    assert.equal(count(), 2);
    assert.equal(versionsAfter(catalog, 'vol', 0, 10)[0].size, 5);
    assert.equal(versionsAfter(catalog, 'vol', 0, 10)[0].receivedAt, 3000);
    assert.deepEqual(receivedPosition(catalog, 'vol'), { epoch: 1, seq: 2 });
    record([mk(1, 'a')]);
    assert.deepEqual(receivedPosition(catalog, 'vol'), { epoch: 1, seq: 2 });
    record([mk(3, 'c', 'mkdir', { epoch: 2 })]);
    assert.deepEqual(receivedPosition(catalog, 'vol'), { epoch: 2, seq: 3 });
    assert.equal(receivedPosition(catalog, 'other'), null);
    assert.equal(headSeq(catalog, 'other'), 0);
  });

  it('stores an empty file, a symlink with a dangling absolute target, and names with spaces', () => {
    record([
      mk(1, 'empty file', 'put', { size: 0, chunks: Buffer.alloc(0) }),
      mk(2, 'dir ü/link', 'symlink', { target: '/nowhere/at all' }),
    ]);
    const rows = versionsAfter(catalog, 'vol', 0, 10);
    assert.equal(rows[0].chunks?.length, 0);
    assert.equal(rows[1].target, '/nowhere/at all');
    assert.equal(rows[1].path, 'dir ü/link');
  });

  const hostile: [string, Partial<Change>, string][] = [
    ['a path with ..', { path: 'a/../../etc/passwd' }, 'E_PATH_INVALID'],
    ['an absolute path', { path: '/etc/passwd' }, 'E_PATH_INVALID'],
    ['a NUL in the path', { path: 'a\0b' }, 'E_PATH_INVALID'],
    ['an overlong component', { path: `d/${'x'.repeat(256)}` }, 'E_PATH_INVALID'],
    ['an empty component', { path: 'a//b' }, 'E_PATH_INVALID'],
    ['an unknown kind', { kind: 'chmod' as Change['kind'] }, 'E_VERSION_INVALID'],
    ['a negative size', { size: -1 }, 'E_VERSION_INVALID'],
    ['a fractional mtime', { mtimeMs: 1.5 }, 'E_VERSION_INVALID'],
    ['an infinite seq', { seq: Number.POSITIVE_INFINITY }, 'E_VERSION_INVALID'],
    ['seq 0', { seq: 0 }, 'E_VERSION_INVALID'],
    ['a mode beyond 0o7777', { mode: 0o170000 }, 'E_VERSION_INVALID'],
    ['a chunk list of 31 bytes', { chunks: Buffer.alloc(31) }, 'E_VERSION_INVALID'],
    ['a put without chunks', { chunks: null }, 'E_VERSION_INVALID'],
    ['a delete with chunks', { kind: 'delete' }, 'E_VERSION_INVALID'],
    ['a symlink without target', { kind: 'symlink', chunks: null, target: '' }, 'E_VERSION_INVALID'],
    ['a symlink target with NUL', { kind: 'symlink', chunks: null, target: 'a\0' }, 'E_VERSION_INVALID'],
    [
      'an overlong symlink target',
      { kind: 'symlink', chunks: null, target: 'x'.repeat(4097) },
      'E_VERSION_INVALID',
    ],
    ['a bad volume name', { volume: '../vol' }, 'E_VERSION_INVALID'],
  ];
  for (const [what, extra, code] of hostile) {
    it(`refuses the whole batch for ${what}`, () => {
      assert.throws(
        () => record([mk(1, 'fine'), mk(2, 'b', 'put', extra)]),
        (err) => isHindsightError(err, code),
      );
      assert.equal(count(), 0);
      assert.equal(receivedPosition(catalog, 'vol'), null);
    });
  }
});

// Regression: the previous-version lookup walked the primary key through every earlier version,
// so an initial copy of 100,000 files slowed to a crawl. The plan must use the path index.
describe('previous-version lookup', () => {
  it('searches by path, not by scanning seqs', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hindsight-plan-'));
    const catalog = openCatalog(path.join(dir, 'catalog.db'));
    try {
      const plan = catalog.prepare(`EXPLAIN QUERY PLAN ${PREVIOUS_VERSION_SQL}`).all('v', 'a', 10);
      assert.match(JSON.stringify(plan), /versions_by_path/);
    } finally {
      catalog.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
