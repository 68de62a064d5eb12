import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FileTier, TIER_MARKER } from '../../../src/backup/index.ts';

const code = (expected: string) => (err: Error & { code?: string }) => err.code === expected;

describe('FileTier', () => {
  let dir: string;
  let root: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hs-tier-'));
    root = join(dir, 'nas');
    mkdirSync(root);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('stores, reads, lists and deletes objects, durably and by range', async () => {
    const tier = await FileTier.create(root, 'tier-1');
    await tier.put('packs/ab/abcdef', Buffer.from('0123456789'));
    await tier.put('index/ab', Buffer.from('i'));
    assert.deepEqual(await tier.get('packs/ab/abcdef'), Buffer.from('0123456789'));
    assert.deepEqual(await tier.get('packs/ab/abcdef', { offset: 3, length: 4 }), Buffer.from('3456'));
    assert.ok(await tier.exists('index/ab'));
    assert.ok(!(await tier.exists('index/cd')));
    const names: string[] = [];
    for await (const n of tier.list('')) names.push(n);
    assert.deepEqual(names.sort(), ['index/ab', 'packs/ab/abcdef']);
    await tier.delete('index/ab');
    await tier.delete('index/ab');
    await assert.rejects(tier.get('index/ab'), code('E_TIER_MISSING'));
    assert.deepEqual(readdirSync(join(root, 'packs', 'ab')), ['abcdef'], 'no staging file is left');
  });

  it('never overwrites an object', async () => {
    const tier = await FileTier.create(root, 'tier-1');
    await tier.put('snapshots/01', Buffer.from('first'));
    await tier.put('snapshots/01', Buffer.from('second'));
    assert.deepEqual(await tier.get('snapshots/01'), Buffer.from('first'));
  });

  it('is offline, and writes nothing, when the share is not mounted', async () => {
    const tier = await FileTier.create(root, 'tier-1');
    // Unmounted: the mount point is there, empty.
    rmSync(join(root, TIER_MARKER));
    await assert.rejects(tier.check(), code('E_TIER_OFFLINE'));
    await assert.rejects(tier.put('index/ab', Buffer.from('x')), /is the share mounted/);
    assert.deepEqual(readdirSync(root), []);
  });

  it('refuses a missing directory, a non-empty one, and another tier’s, with what to do', async () => {
    await assert.rejects(
      FileTier.create(join(dir, 'absent'), 't'),
      (err: Error & { code?: string; hint?: string }) => {
        assert.equal(err.code, 'E_TIER_SETUP');
        assert.match(err.hint ?? '', /mount the share first/);
        return true;
      },
    );
    writeFileSync(join(root, 'notes.txt'), 'mine');
    await assert.rejects(FileTier.create(root, 't'), code('E_TIER_SETUP'));
    const other = join(dir, 'other');
    mkdirSync(other);
    await FileTier.create(other, 'tier-a');
    await FileTier.create(other, 'tier-a');
    await assert.rejects(FileTier.create(other, 'tier-b'), code('E_TIER_FOREIGN'));
  });

  it('refuses object names that could leave the repository', async () => {
    const tier = await FileTier.create(root, 'tier-1');
    for (const name of ['../escape', '/abs', 'a/../../b', 'A', 'a//b', '', '.hindsight-tier']) {
      await assert.rejects(tier.put(name, Buffer.from('x')), code('E_TIER_NAME'), name);
    }
  });
});
