/**
 * prune, verify and restore drills on a real `file://` tier fed from a real mirror catalog and
 * chunk store: prune keeps what the policy says and what it needs, and the repository still
 * verifies and restores; verify and a drill find a flipped byte and name the file.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Backups } from '../../../src/backup/index.ts';
import type { EventInput } from '../../../src/core/index.ts';
import { type Fixture, openFixture, putChange, readTree, record } from '../timeline/fixture.ts';

const FAR_AHEAD = 1_800_000_000_000;

describe('prune, verify and drills', () => {
  let fx: Fixture;
  let events: EventInput[];
  let backups: Backups;

  beforeEach(async () => {
    fx = await openFixture();
    events = [];
    mkdirSync(join(fx.dir, 'nas'));
    backups = new Backups({
      catalog: fx.catalog,
      store: fx.store,
      events: { emit: (e) => events.push(e) },
      clock: fx.clock,
      node: 'beta',
      cluster: 'c0ffee0123456789abcdef',
      keyFile: join(fx.dir, 'backup.key'),
      scratchDir: fx.dir,
    });
    await backups.addTier('nas', `file://${join(fx.dir, 'nas')}`);
    record(fx, [await putChange(fx, 'keep.txt', Buffer.from('kept in every backup\n'))]);
  });
  afterEach(() => fx.close());

  const packs = () =>
    readdirSync(join(fx.dir, 'nas', 'packs'), { recursive: true }).filter((n) => String(n).length > 3);
  const backupOf = async (i: number) => {
    // Each backup has a file of its own, replaced by the next one: old backups hold data alone.
    record(fx, [await putChange(fx, 'changing.bin', randomBytes(100_000 + i))]);
    fx.clock.t += 3_600_000;
    return backups.run('vol', FAR_AHEAD);
  };

  it('prunes what the policy does not keep and what only that used; the rest verifies and restores', async () => {
    const taken = [];
    for (let i = 0; i < 6; i++) taken.push(await backupOf(i));
    const before = packs().length;
    const answer = await backups.prune({ last: 2 });
    assert.equal(answer.snapshots, 4);
    assert.equal(answer.kept, 2);
    assert.ok(packs().length < before, 'packs only old backups used are gone');
    assert.deepEqual(
      backups
        .list('vol')
        .map((b) => b.id)
        .sort(),
      [taken[4].id, taken[5].id].sort(),
      'the catalog forgets the pruned backups',
    );
    const [verified] = await backups.verify({ readShare: 1 });
    assert.deepEqual(verified.report?.problems, []);
    const into = join(fx.dir, 'restored');
    await backups.restore('vol', { id: taken[4].id, into });
    assert.deepEqual(Object.keys(readTree(into)), ['changing.bin', 'keep.txt']);
    assert.ok(events.some((e) => e.type === 'backup.pruned'));
  });

  it('refuses a policy that would keep nothing', async () => {
    await backupOf(0);
    await assert.rejects(backups.prune({}), /must keep something/);
    assert.equal(backups.list('vol').length, 1);
  });

  it('a drill restores the newest backup, checks every file, and reports the time it took', async () => {
    await backupOf(0);
    const drill = await backups.drill('vol');
    assert.equal(drill.isOk, true, drill.problems.join('\n'));
    assert.equal(drill.files, 2);
    assert.ok(drill.ms > 0 && drill.bytesPerSecond > 0);
    assert.equal(backups.lastDrill('vol')?.files, 2);
    assert.equal(events.find((e) => e.type === 'backup.drill')?.level, 'info');
    assert.deepEqual(
      readdirSync(fx.dir).filter((n) => n.startsWith('drill-')),
      [],
      'the scratch is removed',
    );
  });

  it('verify and the drill find a flipped byte and name the file', async () => {
    record(fx, [await putChange(fx, 'precious.bin', randomBytes(2_000_000))]);
    await backups.run('vol', FAR_AHEAD);
    const dir = join(fx.dir, 'nas', 'packs');
    const [sub] = readdirSync(dir);
    const [pack] = readdirSync(join(dir, sub));
    const file = join(dir, sub, pack);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0x04;
    rmSync(file);
    writeFileSync(file, bytes);

    const [structureOnly] = await backups.verify({ readShare: 0 });
    assert.deepEqual(structureOnly.report?.problems, [], 'the structure is whole');
    const [withData] = await backups.verify({ readShare: 1 });
    assert.ok(
      withData.report?.problems.some((p) => p.includes('vol/precious.bin')),
      withData.report?.problems.join('\n'),
    );
    assert.equal(events.filter((e) => e.type === 'backup.verified').at(-1)?.level, 'error');

    const drill = await backups.drill('vol');
    assert.equal(drill.isOk, false);
    assert.match(drill.problems.join('\n'), /precious\.bin is damaged/);
  });
});
