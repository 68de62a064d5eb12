/**
 * The fast paths of a backup and a restore keep their results exact: entries unchanged since
 * the previous backup are taken from its manifest (and only those), chunks are sealed in the
 * form the mirror's store keeps them, a damaged chunk of the store fails the backup instead of
 * being sealed into it, and a restore over many packs, shared chunks and empty files equals
 * the source.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type BackupEntry, FileTier, RepoKey, Repository } from '../../../src/backup/index.ts';
import {
  type Catalog,
  hashChunk,
  openCatalog,
  PackStore,
  type StoredChunk,
} from '../../../src/store/index.ts';

describe('backup reuse and restore', () => {
  let dir: string;
  let catalog: Catalog;
  let store: PackStore;
  let tier: FileTier;
  let key: RepoKey;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hs-reuse-'));
    catalog = openCatalog(join(dir, 'catalog.db'));
    store = new PackStore({ dir: join(dir, 'packs'), catalog });
    mkdirSync(join(dir, 'tier'));
    tier = await FileTier.create(join(dir, 'tier'), 'tier-1');
    key = RepoKey.generate();
    await Repository.init(tier, key, 'cluster-ca');
  });
  afterEach(async () => {
    await store.close();
    catalog.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** file stores `parts` as chunks of the store and returns the entry of a file holding them. */
  function file(path: string, seq: number, parts: Buffer[], mtimeMs = 1_700_000_000_000): BackupEntry {
    const hashes = parts.map((p) => {
      const h = hashChunk(p);
      store.putRaw(h, p);
      return h;
    });
    const size = parts.reduce((n, p) => n + p.length, 0);
    return {
      path,
      seq,
      kind: 'put',
      mode: 0o644,
      mtimeMs,
      size,
      target: null,
      chunks: Buffer.concat(hashes),
    };
  }

  const run = async (
    entries: BackupEntry[],
    seq: number,
    previous?: string,
    read?: (a: Buffer) => StoredChunk,
  ) => {
    await store.sync();
    const repo = await Repository.open(tier, key, { lazyIndex: true });
    return repo.backup({
      volume: 'docs',
      seq,
      at: seq,
      node: 'beta',
      takenAt: seq,
      entries,
      readStored: read ?? ((address) => store.readStored(address)),
      previous,
    });
  };

  const restored = async (id: string) => {
    const into = join(dir, `restored-${id}`);
    await (await Repository.open(tier, key)).restore(id, into);
    return (path: string) => readFileSync(join(into, path));
  };

  it('takes unchanged entries from the previous backup, and only those', async () => {
    const text = Buffer.from('compressible line\n'.repeat(2000));
    const a = file('a.txt', 1, [text]);
    const b = file('b.bin', 2, [randomBytes(5000)]);
    const first = await run([a, b], 2);
    assert.equal(first.totals.newChunks, 2);

    // b changes at seq 3; a keeps its seq 1; c (seq 1) is new to the manifest.
    const b2 = file('b.bin', 3, [randomBytes(6000)]);
    const c = file('c.bin', 1, [randomBytes(100)]);
    const second = await run([a, b2, c], 3, first.snapshot.id);
    assert.equal(second.totals.newChunks, 2, 'the new b and c');
    const read = await restored(second.snapshot.id);
    assert.deepEqual(read('a.txt'), text);
    assert.equal(read('b.bin').length, 6000);
    assert.equal(read('c.bin').length, 100);

    const third = await run([a, b2, c], 3, second.snapshot.id);
    assert.deepEqual(third.totals, { newChunks: 0, newBytes: 0, manifestReused: true });
    assert.equal(third.snapshot.manifest, second.snapshot.manifest);

    // An entry that claims an old seq but no longer matches the previous manifest is not taken from it.
    const a2 = file('a.txt', 1, [Buffer.from('short')]);
    const fourth = await run([a2, b2, c], 3, third.snapshot.id);
    assert.deepEqual((await restored(fourth.snapshot.id))('a.txt'), Buffer.from('short'));
  });

  it('reuses nothing from a backup of another volume, a later moment, or one that was pruned', async () => {
    const a = file('a.txt', 1, [Buffer.from('one')]);
    const first = await run([a], 5);
    const later = { ...file('a.txt', 1, [Buffer.from('two')]), size: 3 };
    // The previous backup is at seq 5, this one at seq 4: nothing of it may be reused.
    const second = await run([later], 4, first.snapshot.id);
    assert.deepEqual((await restored(second.snapshot.id))('a.txt'), Buffer.from('two'));
    const third = await run([later], 6, 'f'.repeat(32));
    assert.deepEqual((await restored(third.snapshot.id))('a.txt'), Buffer.from('two'));
  });

  it('fails a backup whose store chunk is damaged, naming it, and seals nothing of it', async () => {
    const a = file('a.bin', 1, [randomBytes(4000)]);
    await assert.rejects(
      run([a], 1, undefined, (address) => {
        const s = store.readStored(address);
        const data = Buffer.from(s.data);
        data[10] ^= 1;
        return { ...s, data };
      }),
      (err: Error & { code?: string }) => err.code === 'E_CHUNK_CORRUPT',
    );
    assert.equal((await (await Repository.open(tier, key)).snapshots()).length, 0);
  });

  it('restores many packs, chunks shared by files, and empty files exactly', async () => {
    const shared = randomBytes(64 * 1024);
    const entries: BackupEntry[] = [];
    // About 24 MiB of random chunks: three packs and more.
    for (let i = 0; i < 12; i++) {
      const parts = [randomBytes(1024 * 1024), shared, randomBytes(1024 * 1024)];
      entries.push(file(`big/f${String(i).padStart(2, '0')}.bin`, 1, parts));
    }
    entries.push(file('empty', 1, []));
    entries.push(file('small/x', 1, [shared]));
    entries.sort((x, y) => (x.path < y.path ? -1 : 1));
    const { snapshot } = await run(entries, 1);
    const read = await restored(snapshot.id);
    for (const e of entries) {
      const want = Buffer.concat(
        Array.from({ length: (e.chunks?.length ?? 0) / 32 }, (_, i) =>
          store.readRaw(e.chunks!.subarray(i * 32, i * 32 + 32)),
        ),
      );
      assert.deepEqual(read(e.path), want, e.path);
    }
  });
});
