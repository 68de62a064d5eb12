import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GlobFilter } from '../../../src/capture/index.ts';
import { isHindsightError } from '../../../src/core/index.ts';

describe('GlobFilter', () => {
  it('captures everything when there are no globs, dot files included', () => {
    const f = new GlobFilter([], []);
    assert.equal(f.isCaptured('a/.hidden/b', false), true);
    assert.equal(f.isCaptured('.x', true), true);
  });

  it('matches a pattern without "/" against the name at any depth', () => {
    const f = new GlobFilter([], ['*.tmp', '.cache']);
    assert.equal(f.isCaptured('x.tmp', false), false);
    assert.equal(f.isCaptured('a/b/.y.tmp', false), false);
    assert.equal(f.isCaptured('a/b/x.tmpl', false), true);
    assert.equal(f.isDescended('home/.cache'), false);
    assert.equal(f.isCapturedPath('home/.cache/z', false), false);
    assert.equal(f.hasExcludedAncestor('home/.cache/z'), true);
    assert.equal(f.hasExcludedAncestor('home/cache/z'), false);
  });

  it('anchors a pattern with "/" at the root and supports **, ?, classes and dir-only', () => {
    const f = new GlobFilter([], ['/build/', 'logs/**/*.log', 'v?', 'n[0-9]', 'k[!a-c]']);
    assert.equal(f.isDescended('build'), false);
    assert.equal(f.isCaptured('build', false), true, 'a file named build is not a directory');
    assert.equal(f.isDescended('src/build'), true, 'anchored');
    assert.equal(f.isCaptured('logs/a.log', false), false, '** matches zero components');
    assert.equal(f.isCaptured('logs/x/y/a.log', false), false);
    assert.equal(f.isCaptured('logsx/a.log', false), true);
    assert.equal(f.isCaptured('v1', false), false);
    assert.equal(f.isCaptured('v12', false), true);
    assert.equal(f.isCaptured('n5', false), false);
    assert.equal(f.isCaptured('na', false), true);
    assert.equal(f.isCaptured('kd', false), false);
    assert.equal(f.isCaptured('kb', false), true);
  });

  it('applies include globs to files only, and exclude wins over include', () => {
    const f = new GlobFilter(['*.txt', 'docs/**'], ['secret.txt']);
    assert.equal(f.isCaptured('a/b/c.txt', false), true);
    assert.equal(f.isCaptured('a/b/c.bin', false), false);
    assert.equal(f.isCaptured('docs/x/y.bin', false), true);
    assert.equal(f.isCaptured('a', true), true, 'directories are walked to reach included files');
    assert.equal(f.isCaptured('a/secret.txt', false), false);
  });

  it('takes names with spaces, non-ASCII and regexp characters literally', () => {
    const f = new GlobFilter([], ['my file (1).txt', 'ü*', 'a+b', 'x\\*']);
    assert.equal(f.isCaptured('d/my file (1).txt', false), false);
    assert.equal(f.isCaptured('d/my file 1.txt', false), true);
    assert.equal(f.isCaptured('über', false), false);
    assert.equal(f.isCaptured('a+b', false), false);
    assert.equal(f.isCaptured('aab', false), true);
    assert.equal(f.isCaptured('x*', false), false);
    assert.equal(f.isCaptured('xy', false), true);
  });

  it('refuses malformed patterns with E_CAPTURE_GLOB', () => {
    for (const bad of ['', '/', 'a[b', 'x\\']) {
      assert.throws(
        () => new GlobFilter([], [bad]),
        (e) => isHindsightError(e, 'E_CAPTURE_GLOB'),
        bad,
      );
    }
  });
});
