import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type FileRowDraft, FileRows } from '../../../src/capture/index.ts';
import { type CaptureEnv, makeEnv } from './fixture.ts';

function row(path: string, kind: FileRowDraft['kind'] = 'file'): FileRowDraft {
  // An mtime beyond 2^53 ns, as real ones are: it must round-trip exactly.
  return { path, kind, size: 1n, mtimeNs: 1_700_000_000_123_456_789n, ctimeNs: 2n, ino: 3n, mode: 0o100644n };
}

describe('FileRows', () => {
  let env: CaptureEnv;
  let rows: FileRows;
  beforeEach(async () => {
    env = makeEnv();
    rows = new FileRows(env.catalog, env.volume);
    const paths = ['a', 'a/x', 'a/b', 'a/b/c', 'a-b', 'a0', 'a.txt', 'b', 'b/ü', 'b/z z', 'é'];
    const upserts = paths.map((p) => row(p, ['a', 'a/b', 'b'].includes(p) ? 'dir' : 'file'));
    await env.outbox.append(env.volume, [], env.store, { upserts, deletes: [] });
  });
  afterEach(() => env.cleanup());

  it('lists the direct children of a directory only, whatever sorts between them', () => {
    assert.deepEqual(
      [...rows.children('')].map(([n]) => n).sort(),
      ['a', 'a-b', 'a.txt', 'a0', 'b', 'é'].sort(),
    );
    assert.deepEqual([...rows.children('a')].map(([n]) => n).sort(), ['b', 'x']);
    assert.deepEqual(
      [...rows.children('a/b')].map(([n]) => n),
      ['c'],
    );
    assert.deepEqual([...rows.children('b')].map(([n]) => n).sort(), ['z z', 'ü']);
    assert.deepEqual([...rows.children('a/x')], []);
  });

  it('keeps nanosecond times exactly and pages a subtree deepest first', () => {
    assert.equal(rows.get('a/x')?.mtimeNs, 1_700_000_000_123_456_789n);
    assert.equal(rows.get('nope'), undefined);
    assert.deepEqual(rows.subtreeDeepestFirst('a', 10), ['a/x', 'a/b/c', 'a/b', 'a']);
    assert.deepEqual(rows.subtreeDeepestFirst('a', 2), ['a/x', 'a/b/c']);
    assert.deepEqual(rows.subtreeDeepestFirst('a.txt', 10), ['a.txt']);
    assert.equal(rows.hasAny(), true);
  });
});
