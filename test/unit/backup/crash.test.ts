/**
 * kill -9 during a backup, a catch-up and a prune, at a random moment each time (seeded:
 * HINDSIGHT_SEED repeats a run): afterwards every tier verifies, reading every chunk, nothing a
 * finished backup holds is lost, and the next run of the same operation completes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Backups } from '../../../src/backup/index.ts';
import { type Catalog, openCatalog, PackStore } from '../../../src/store/index.ts';
import { SystemClock } from '../../../src/sys/index.ts';
import { createRng, seedFromEnv } from '../../harness/rng.ts';
import { openFixture, putChange, readTree, record } from '../timeline/fixture.ts';

const TRIALS = Number(process.env.HINDSIGHT_CRASH_TRIALS_BACKUP ?? 3);
const FAR_AHEAD = 1_800_000_000_000;
const CHILD = join(import.meta.dirname, 'backup-child.ts');
const seed = seedFromEnv();
const rng = createRng(seed);

/** Node is a state directory opened in this process: a catalog, a store, and Backups on them. */
interface Node {
  catalog: Catalog;
  store: PackStore;
  backups: Backups;
  close(): Promise<void>;
}

async function open(dir: string): Promise<Node> {
  const catalog = openCatalog(join(dir, 'catalog.db'));
  const store = await PackStore.open({ dir: join(dir, 'packs'), catalog });
  const backups = new Backups({
    catalog,
    store,
    events: { emit: () => {} },
    clock: new SystemClock(),
    node: 'beta',
    cluster: 'c0ffee0123456789abcdef',
    keyFile: join(dir, 'backup.key'),
    scratchDir: dir,
  });
  return {
    catalog,
    store,
    backups,
    close: async () => {
      await store.close();
      catalog.close();
    },
  };
}

/** setUp makes a mirror state directory with `mb` MiB of data in many chunks, and tiers a and b. */
async function setUp(mb: number): Promise<string> {
  const fx = await openFixture();
  const changes = [];
  for (let i = 0; i < mb; i++)
    changes.push(await putChange(fx, `data/f-${i}.bin`, randomBytes(1 << 20), 64 * 1024));
  record(fx, changes);
  await fx.store.close();
  fx.catalog.close();
  for (const t of ['a', 'b']) mkdirSync(join(fx.dir, t));
  const node = await open(fx.dir);
  await node.backups.addTier('a', `file://${join(fx.dir, 'a')}`);
  await node.backups.addTier('b', `file://${join(fx.dir, 'b')}`);
  await node.close();
  return fx.dir;
}

/** killDuring runs `op` in a child and kills it -9 after a random 10–400 ms; returns whether it had finished. */
function killDuring(dir: string, op: string): Promise<boolean> {
  const child = spawn(process.execPath, [CHILD, dir, op], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  return new Promise((resolve) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('started') && !child.killed) {
        setTimeout(() => child.kill('SIGKILL'), rng.int(10, 400));
      }
    });
    child.on('close', () => resolve(out.includes('done')));
  });
}

async function verifies(node: Node, what: string): Promise<void> {
  for (const t of await node.backups.verify({ readShare: 1 })) {
    assert.equal(t.error, null, `${what}: tier ${t.tier}: ${t.error}`);
    assert.deepEqual(t.report?.problems, [], `${what}: tier ${t.tier} (seed ${seed})`);
  }
}

const unmount = (dir: string, t: string) => {
  renameSync(join(dir, t), join(dir, `${t}-away`));
  mkdirSync(join(dir, t));
};
const remount = (dir: string, t: string) => {
  rmdirSync(join(dir, t));
  renameSync(join(dir, `${t}-away`), join(dir, t));
};

describe(`kill -9 during backup operations (seed ${seed})`, () => {
  it('during a backup: the tiers verify and the next backup completes', async () => {
    for (let trial = 0; trial < TRIALS; trial++) {
      const dir = await setUp(24);
      try {
        const finished = await killDuring(dir, 'backup');
        const node = await open(dir);
        await verifies(node, `trial ${trial}, after the kill (finished: ${finished})`);
        const done = await node.backups.run('vol', FAR_AHEAD);
        assert.deepEqual(done.tiers.sort(), ['a', 'b']);
        await verifies(node, `trial ${trial}, after the next backup`);
        const into = join(dir, 'restored');
        await node.backups.restore('vol', { id: done.id, into });
        assert.equal(Object.keys(readTree(into)).length, 25, 'the data dir and its 24 files');
        await node.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('during a catch-up: the tier verifies, and the next catch-up completes', async () => {
    for (let trial = 0; trial < TRIALS; trial++) {
      const dir = await setUp(24);
      try {
        let node = await open(dir);
        unmount(dir, 'b');
        await node.backups.run('vol', FAR_AHEAD);
        remount(dir, 'b');
        await node.close();
        const finished = await killDuring(dir, 'catch-up');
        node = await open(dir);
        await verifies(node, `trial ${trial}, after the kill (finished: ${finished})`);
        await node.backups.catchUp();
        const tiers = node.backups.tiers();
        assert.deepEqual(
          tiers.map((t) => t.state),
          ['online', 'online'],
        );
        assert.equal(tiers[0].revision, tiers[1].revision);
        const objects = (t: string) =>
          readdirSync(join(dir, t), { recursive: true })
            .map(String)
            .filter((n) => /^(packs|index|manifests|snapshots)\/.+[0-9a-f]{16}$/.test(n))
            .sort();
        assert.deepEqual(objects('b'), objects('a'));
        await node.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('during a prune: the tiers verify, what is kept restores, and the next prune completes', async () => {
    for (let trial = 0; trial < TRIALS; trial++) {
      const dir = await setUp(4);
      try {
        let node = await open(dir);
        const taken = [];
        for (let i = 0; i < 4; i++) taken.push(await node.backups.run('vol', FAR_AHEAD));
        await node.close();
        const finished = await killDuring(dir, 'prune');
        node = await open(dir);
        await verifies(node, `trial ${trial}, after the kill (finished: ${finished})`);
        await node.backups.prune({ last: 1 });
        await verifies(node, `trial ${trial}, after the next prune`);
        const into = join(dir, 'restored');
        await node.backups.restore('vol', { into });
        assert.equal(Object.keys(readTree(into)).length, 5);
        await node.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});
