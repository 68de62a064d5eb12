import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../../src/sys/index.ts';
import { ApplyLoop, ensureView, readView } from '../../../src/timeline/index.ts';
import { appliedSeq, change, type Fixture, openFixture, putChange, record } from './fixture.ts';

/** waitFor polls `check` until it holds; bounded so a broken loop fails instead of hanging. */
async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (check()) return;
    await sleep(10);
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('ApplyLoop', () => {
  let fx: Fixture;
  let loop: ApplyLoop;
  beforeEach(async () => {
    fx = await openFixture();
    loop = new ApplyLoop({
      applier: fx.applier,
      clock: fx.clock,
      log: createLogger('test', { write: () => {} }),
      volume: 'vol',
      // Long enough that only wake() or a retry can start a pass within the test.
      intervalMs: 600_000,
      retryMinMs: 5,
      retryMaxMs: 20,
    });
  });
  afterEach(async () => {
    await loop.stop();
    await fx.close();
  });

  it('applies new versions when woken, and stops cleanly', async () => {
    fs.writeFileSync(path.join(fx.root, '.hindsight-staging-left-1'), 'x');
    loop.start();
    record(fx, [await putChange(fx, 'a', Buffer.from('one'))]);
    loop.wake();
    await waitFor(() => appliedSeq(fx) === 1, 'the first version');
    assert.equal(fs.existsSync(path.join(fx.root, '.hindsight-staging-left-1')), false);
    record(fx, [change(fx, { path: 'b', kind: 'mkdir' }), change(fx, { path: 'c', kind: 'mkdir' })]);
    loop.wake();
    await waitFor(() => appliedSeq(fx) === 3, 'the next versions');
    assert.deepEqual(fs.readdirSync(fx.root).sort(), ['a', 'b', 'c']);
    await loop.stop();
    await loop.stop();
  });

  it('keeps retrying after errors and converges once the cause is gone', async () => {
    fs.rmSync(fx.root, { recursive: true });
    record(fx, [change(fx, { path: 'a', kind: 'mkdir' })]);
    loop.start();
    await waitFor(() => fx.events.filter((e) => e.type === 'apply.error').length >= 2, 'repeated errors');
    assert.equal(appliedSeq(fx), 0);
    fs.mkdirSync(fx.root);
    await waitFor(() => appliedSeq(fx) === 1, 'recovery');
    assert.ok(fs.statSync(path.join(fx.root, 'a')).isDirectory());
  });
});

describe('ensureView', () => {
  let fx: Fixture;
  beforeEach(async () => {
    fx = await openFixture();
  });
  afterEach(async () => {
    await fx.close();
  });

  it('creates a view once and restarts it from 0 when its root moves', () => {
    fx.catalog.prepare('UPDATE views SET applied_seq = 7').run();
    assert.equal(ensureView(fx.catalog, 'vol', 'main', fx.root).appliedSeq, 7);
    const moved = ensureView(fx.catalog, 'vol', 'main', path.join(fx.dir, 'elsewhere'));
    assert.equal(moved.appliedSeq, 0);
    assert.equal(moved.root, path.join(fx.dir, 'elsewhere'));
    const other = ensureView(fx.catalog, 'vol', 'delayed', fx.root);
    assert.deepEqual(other, {
      volume: 'vol',
      name: 'delayed',
      root: fx.root,
      delayMs: 0,
      appliedSeq: 0,
      held: false,
      holdReason: null,
      heldSince: null,
      movingFrom: null,
    });
    assert.equal(readView(fx.catalog, 'vol', 'delayed').name, 'delayed');
    assert.throws(() => readView(fx.catalog, 'vol', 'nope'), { code: 'E_VIEW_MISSING' });
  });
});
