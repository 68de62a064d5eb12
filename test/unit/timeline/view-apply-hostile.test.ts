import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { appliedSeq, change, type Fixture, openFixture, putChange, readTree, record } from './fixture.ts';

describe('ViewApplier against hostile timelines', () => {
  let fx: Fixture;
  let outside: string;
  beforeEach(async () => {
    fx = await openFixture();
    outside = path.join(fx.dir, 'outside');
    fs.mkdirSync(outside);
  });
  afterEach(async () => {
    await fx.close();
  });

  const rejectedSeqs = () => fx.events.filter((e) => e.type === 'apply.rejected').map((e) => e.data?.seq);

  it('rejects a put beneath a symlink and writes nothing outside the root', async () => {
    record(fx, [
      change(fx, { path: 'evil', kind: 'symlink', target: outside }),
      await putChange(fx, 'evil/x', Buffer.from('pwned')),
      change(fx, { path: 'evil/d', kind: 'mkdir' }),
      change(fx, { path: 'evil/l', kind: 'symlink', target: '/etc/passwd' }),
      change(fx, { path: 'evil/deeper/y', kind: 'symlink', target: 'z' }),
      await putChange(fx, 'after', Buffer.from('fine')),
    ]);
    assert.equal(await fx.applier.applyPending(), 6);
    assert.deepEqual(fs.readdirSync(outside), []);
    assert.deepEqual(rejectedSeqs(), [2, 3, 4, 5]);
    assert.ok(fx.events.every((e) => e.level === 'error' && e.volume === 'vol'));
    assert.equal(appliedSeq(fx), 6);
    assert.deepEqual(readTree(fx.root), {
      after: { type: 'file', mode: 0o644, content: 'fine' },
      evil: { type: 'link', target: outside },
    });
  });

  it('does not delete or chmod through a symlinked ancestor', async () => {
    fs.writeFileSync(path.join(outside, 'victim'), 'keep me');
    fs.chmodSync(path.join(outside, 'victim'), 0o644);
    record(fx, [
      change(fx, { path: 'evil', kind: 'symlink', target: outside }),
      change(fx, { path: 'evil/victim', kind: 'delete' }),
      change(fx, { path: 'evil/victim', kind: 'meta', mode: 0o777 }),
    ]);
    await fx.applier.applyPending();
    assert.equal(fs.readFileSync(path.join(outside, 'victim'), 'utf8'), 'keep me');
    assert.equal(fs.statSync(path.join(outside, 'victim')).mode & 0o7777, 0o644);
    assert.deepEqual(rejectedSeqs(), [3]);
  });

  it('rejects a put beneath a file', async () => {
    record(fx, [
      await putChange(fx, 'f', Buffer.from('file')),
      await putChange(fx, 'f/x', Buffer.from('no')),
    ]);
    await fx.applier.applyPending();
    assert.deepEqual(rejectedSeqs(), [2]);
    assert.deepEqual(readTree(fx.root), { f: { type: 'file', mode: 0o644, content: 'file' } });
  });

  it('replaces a symlink named like the file instead of writing through it', async () => {
    const victim = path.join(outside, 'victim');
    fs.writeFileSync(victim, 'original');
    record(fx, [
      change(fx, { path: 'target', kind: 'symlink', target: victim }),
      change(fx, { path: 'dirlink', kind: 'symlink', target: outside }),
    ]);
    await fx.applier.applyPending();
    record(fx, [
      await putChange(fx, 'target', Buffer.from('new content')),
      change(fx, { path: 'dirlink', kind: 'mkdir', mode: 0o700 }),
    ]);
    await fx.applier.applyPending();
    assert.equal(fs.readFileSync(victim, 'utf8'), 'original');
    assert.deepEqual(fs.readdirSync(outside), ['victim']);
    assert.equal(fs.statSync(outside).mode & 0o7777, 0o755);
    assert.deepEqual(readTree(fx.root), {
      dirlink: { type: 'dir', mode: 0o700 },
      target: { type: 'file', mode: 0o644, content: 'new content' },
    });
  });

  it('does not follow a symlink on a meta change', async () => {
    const victim = path.join(outside, 'victim');
    fs.writeFileSync(victim, 'x');
    fs.chmodSync(victim, 0o644);
    record(fx, [
      change(fx, { path: 'l', kind: 'symlink', target: victim }),
      change(fx, { path: 'l', kind: 'meta', mode: 0o777 }),
    ]);
    await fx.applier.applyPending();
    assert.equal(fs.statSync(victim).mode & 0o7777, 0o644);
    assert.deepEqual(fx.events, []);
  });

  it('rejects a version named like a staging file', async () => {
    record(fx, [await putChange(fx, 'd/.hindsight-staging-trick', Buffer.from('x'))]);
    await fx.applier.applyPending();
    assert.deepEqual(rejectedSeqs(), [1]);
  });

  it('refuses to apply into a missing root and keeps its position', async () => {
    record(fx, [change(fx, { path: 'a', kind: 'mkdir' })]);
    fs.rmSync(fx.root, { recursive: true });
    await assert.rejects(fx.applier.applyPending(), { code: 'E_APPLY_ROOT' });
    assert.equal(appliedSeq(fx), 0);
    assert.equal(fx.events[0].type, 'apply.error');
    fs.mkdirSync(fx.root);
    assert.equal(await fx.applier.applyPending(), 1);
    assert.deepEqual(Object.keys(readTree(fx.root)), ['a']);
  });
});
