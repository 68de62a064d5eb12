/**
 * The two-tier rules (docs/backup.md), on real `file://` tiers and a real mirror catalog and
 * chunk store: a tier that is offline (its share unmounted) is skipped and left behind, then
 * caught up by copying what it lacks; while every tier is offline a backup waits for one; a
 * new backup pre-empts a catch-up, which resumes afterwards; a tier another installation wrote
 * to (a copied state directory) is found foreign and never written again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Backups } from '../../../src/backup/index.ts';
import type { EventInput } from '../../../src/core/index.ts';
import { type Catalog, openCatalog } from '../../../src/store/index.ts';
import { type Fixture, openFixture, putChange, readTree, record } from '../timeline/fixture.ts';

const FAR_AHEAD = 1_800_000_000_000;

describe('the two-tier rules', () => {
  let fx: Fixture;
  let events: EventInput[];
  let extra: Catalog[];

  beforeEach(async () => {
    fx = await openFixture();
    events = [];
    extra = [];
    for (const name of ['a', 'b']) mkdirSync(join(fx.dir, name));
    record(fx, [
      await putChange(fx, 'one.txt', Buffer.from('one\n')),
      await putChange(fx, 'big.bin', randomBytes(3 << 20)),
    ]);
  });
  afterEach(async () => {
    for (const c of extra) c.close();
    await fx.close();
  });

  const backupsOn = (catalog: Catalog, keyFile = join(fx.dir, 'backup.key')) =>
    new Backups({
      catalog,
      store: fx.store,
      events: { emit: (e) => events.push(e) },
      clock: fx.clock,
      node: 'beta',
      cluster: 'c0ffee0123456789abcdef',
      keyFile,
      scratchDir: fx.dir,
    });
  const tierUrl = (name: string) => `file://${join(fx.dir, name)}`;
  const unmount = (name: string) => {
    renameSync(join(fx.dir, name), join(fx.dir, `${name}-away`));
    mkdirSync(join(fx.dir, name));
  };
  const remount = (name: string) => {
    rmdirSync(join(fx.dir, name));
    renameSync(join(fx.dir, `${name}-away`), join(fx.dir, name));
  };
  const objects = (name: string) =>
    readdirSync(join(fx.dir, name), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => join(e.parentPath, e.name).slice(join(fx.dir, name).length + 1))
      .sort();
  const stateOf = (b: Backups, name: string) => b.tiers().find((t) => t.name === name)?.state;
  const change = async (path: string) => record(fx, [await putChange(fx, path, randomBytes(200_000))]);
  const waitFor = async (what: string, fn: () => boolean) => {
    for (let i = 0; i < 2000 && !fn(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(fn(), what);
  };

  it('skips an offline tier, leaves it behind, and catches it up to the same objects and revision', async () => {
    const backups = backupsOn(fx.catalog);
    await backups.addTier('a', tierUrl('a'));
    await backups.addTier('b', tierUrl('b'));
    const first = await backups.run('vol', FAR_AHEAD);
    assert.deepEqual(first.tiers, ['a', 'b']);

    unmount('b');
    await change('two.bin');
    const second = await backups.run('vol', FAR_AHEAD);
    assert.deepEqual(second.tiers, ['a'], 'the backup is done on the tier that is there');
    assert.equal(stateOf(backups, 'b'), 'offline');
    assert.ok(events.some((e) => e.type === 'tier.offline'));

    remount('b');
    await backups.catchUp();
    assert.equal(stateOf(backups, 'b'), 'online');
    const [a, b] = backups.tiers();
    assert.equal(a.revision, b.revision, 'revisions equal');
    const payload = (n: string) => objects(n).filter((o) => !o.startsWith('revision/'));
    assert.deepEqual(payload('b'), payload('a'), 'the same objects');
    for (const o of payload('a'))
      assert.deepEqual(readFileSync(join(fx.dir, 'b', o)), readFileSync(join(fx.dir, 'a', o)), o);
    assert.deepEqual(backups.list('vol')[0].tiers, ['a', 'b'], 'the caught-up tier holds the backup now');
    const fromB = join(fx.dir, 'from-b');
    await backups.restore('vol', { id: second.id, into: fromB, tier: 'b' });
    assert.deepEqual(Object.keys(readTree(fromB)), ['big.bin', 'one.txt', 'two.bin']);
  });

  it('waits while every tier is offline, and completes when one returns', async () => {
    const backups = backupsOn(fx.catalog);
    await backups.addTier('a', tierUrl('a'));
    unmount('a');
    const running = backups.run('vol', FAR_AHEAD, { waitMs: 120_000 });
    await waitFor('the backup says it waits', () => events.some((e) => e.type === 'backup.waiting'));
    remount('a');
    const done = await running;
    assert.deepEqual(done.tiers, ['a']);
  });

  it('gives up waiting after the time it was given, with what to do', async () => {
    const backups = backupsOn(fx.catalog);
    await backups.addTier('a', tierUrl('a'));
    unmount('a');
    await assert.rejects(
      backups.run('vol', FAR_AHEAD, { waitMs: 0 }),
      (err: Error & { code?: string; hint?: string }) => {
        assert.equal(err.code, 'E_BACKUP_ALL_OFFLINE');
        assert.match(err.hint ?? '', /tier list/);
        return true;
      },
    );
    // A scheduled backup has no caller to see the error: the event is what notices and alarms hear.
    const failed = events.filter((e) => e.type === 'backup.failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0].level, 'error');
    assert.equal(failed[0].volume, 'vol');
    assert.match(failed[0].msg, /no tier could take the backup of vol/);
  });

  it('lets a new backup pre-empt a catch-up, which resumes afterwards', async () => {
    const backups = backupsOn(fx.catalog);
    await backups.addTier('a', tierUrl('a'));
    await backups.addTier('b', tierUrl('b'));
    unmount('b');
    for (let i = 0; i < 12; i++) {
      await change(`f-${i}.bin`);
      await backups.run('vol', FAR_AHEAD);
    }
    remount('b');
    const catching = backups.catchUp();
    await waitFor('the catch-up has begun', () => stateOf(backups, 'b') === 'syncing');
    await change('during.bin');
    const during = await backups.run('vol', FAR_AHEAD);
    await catching;
    assert.deepEqual(during.tiers, ['a'], 'the new backup went to the tier in sync');
    assert.ok(!events.some((e) => e.type === 'tier.caught-up'), 'the catch-up stopped for the backup');
    await waitFor('the catch-up resumed and finished', () => events.some((e) => e.type === 'tier.caught-up'));
    assert.equal(stateOf(backups, 'b'), 'online');
    const fromB = join(fx.dir, 'from-b');
    await backups.restore('vol', { id: during.id, into: fromB, tier: 'b' });
    assert.ok(Object.keys(readTree(fromB)).includes('during.bin'));
  });

  it('finds a tier another installation wrote to foreign, writes nothing more there, and goes on with the others', async () => {
    const backups = backupsOn(fx.catalog);
    await backups.addTier('a', tierUrl('a'));
    await backups.addTier('b', tierUrl('b'));
    await backups.run('vol', FAR_AHEAD);
    // A copy of this node's state (a cloned VM): the same catalog and key.
    const clonePath = join(fx.dir, 'clone.db');
    fx.catalog.exec(`VACUUM INTO '${clonePath}'`);
    const cloneCatalog = openCatalog(clonePath);
    extra.push(cloneCatalog);
    const clone = backupsOn(cloneCatalog);
    // The clone can reach only tier a.
    unmount('b');
    await change('clone.bin');
    await clone.run('vol', FAR_AHEAD);
    remount('b');

    const before = objects('a');
    events.length = 0;
    await change('after.bin');
    const next = await backups.run('vol', FAR_AHEAD);
    assert.deepEqual(next.tiers, ['b'], 'the backup goes on to the other tier');
    assert.equal(stateOf(backups, 'a'), 'foreign');
    const foreign = events.find((e) => e.type === 'tier.foreign');
    assert.equal(foreign?.level, 'error');
    assert.match(foreign?.msg ?? '', /another installation/);
    assert.deepEqual(objects('a'), before, 'nothing more is written to the foreign tier');
    await backups.catchUp();
    assert.deepEqual(objects('a'), before, 'nor caught up');
  });
});
