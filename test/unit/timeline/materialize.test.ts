import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { applyStates, liveAt } from '../../../src/timeline/index.ts';
import { change, type Fixture, openFixture, putChange, readTree, record } from './fixture.ts';

describe('applyStates', () => {
  let fx: Fixture;
  let into: string;
  beforeEach(async () => {
    fx = await openFixture();
    into = path.join(fx.dir, 'into');
    fs.mkdirSync(into);
  });
  afterEach(async () => {
    await fx.close();
  });

  /** timeline records a small tree with nested folders, several files per folder and links. */
  async function timeline(): Promise<number> {
    const changes = [change(fx, { path: 'a', kind: 'mkdir', mode: 0o750 })];
    for (let d = 0; d < 3; d++) {
      changes.push(change(fx, { path: `a/d${d}`, kind: 'mkdir' }));
      for (let f = 0; f < 20; f++) {
        changes.push(await putChange(fx, `a/d${d}/f${f}`, Buffer.from(`file ${d}/${f}`), 4, 0o640));
      }
    }
    changes.push(change(fx, { path: 'a/link', kind: 'symlink', target: 'd0/f0' }));
    changes.push(await putChange(fx, 'top', Buffer.from('top level')));
    record(fx, changes);
    return changes.length;
  }

  it('writes the whole state at a seq into an empty directory (a preview)', async () => {
    const seq = await timeline();
    const done = await applyStates(fx.store, into, [], liveAt(fx.catalog, 'vol', seq), { fresh: true });
    assert.equal(done.written, seq);
    const tree = readTree(into);
    assert.equal(Object.keys(tree).length, seq);
    assert.deepEqual(tree['a/d2/f19'], { type: 'file', mode: 0o640, content: 'file 2/19' });
    assert.deepEqual(tree.a, { type: 'dir', mode: 0o750 });
    assert.deepEqual(tree['a/link'], { type: 'link', target: 'd0/f0' });
    assert.deepEqual(tree.top, { type: 'file', mode: 0o644, content: 'top level' });
  });

  it('turns a different tree into the state, removing what must go (a rewind)', async () => {
    const seq = await timeline();
    fs.mkdirSync(path.join(into, 'a/d1'), { recursive: true });
    fs.writeFileSync(path.join(into, 'a/d1/f3'), 'stale content');
    fs.mkdirSync(path.join(into, 'top')); // a directory where the state has a file
    fs.writeFileSync(path.join(into, 'top/inside'), 'goes with it');
    fs.writeFileSync(path.join(into, 'extra'), 'not in the state');
    const done = await applyStates(fx.store, into, ['extra', 'missing/too'], liveAt(fx.catalog, 'vol', seq));
    assert.equal(done.removed, 1);
    const expected = path.join(fx.dir, 'expected');
    fs.mkdirSync(expected);
    await applyStates(fx.store, expected, [], liveAt(fx.catalog, 'vol', seq), { fresh: true });
    assert.deepEqual(readTree(into), readTree(expected));
  });

  it('writes nothing through a link when a state holds a link and files beneath it', async () => {
    const outside = path.join(fx.dir, 'outside');
    fs.mkdirSync(outside);
    // A hostile primary can make both current: the link, then files "beneath" it.
    const changes = [change(fx, { path: 'evil', kind: 'symlink', target: outside })];
    for (let i = 0; i < 40; i++) changes.push(await putChange(fx, `evil/x${i}`, Buffer.from('pwned')));
    record(fx, changes);
    for (const fresh of [true, false]) {
      fs.rmSync(into, { recursive: true, force: true });
      fs.mkdirSync(into);
      await applyStates(fx.store, into, [], liveAt(fx.catalog, 'vol', changes.length), { fresh });
      assert.deepEqual(fs.readdirSync(outside), [], `fresh: ${fresh}`);
      assert.deepEqual(readTree(into), { evil: { type: 'link', target: outside } });
    }
  });
});
