/**
 * A backup repository on a real `file://` tier, filled from a real chunk store: what is restored
 * equals what was backed up (content, modes, times, links); a second backup of the same tree
 * writes no chunk and reuses its manifest; a damaged pack and a wrong key are told apart.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FileTier, RepoKey, Repository } from '../../../src/backup/index.ts';
import type { Change } from '../../../src/core/index.ts';
import { type Catalog, ingestFile, openCatalog, PackStore, ReadWindow } from '../../../src/store/index.ts';
import { treeHash } from '../../harness/tree-hash.ts';

type Entry = Pick<Change, 'path' | 'kind' | 'mode' | 'mtimeMs' | 'size' | 'target' | 'chunks'>;

describe('Repository', () => {
  let dir: string;
  let src: string;
  let catalog: Catalog;
  let store: PackStore;
  let tier: FileTier;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hs-repo-'));
    src = join(dir, 'src');
    mkdirSync(join(src, 'docs', 'deep'), { recursive: true });
    writeFileSync(join(src, 'docs', 'a.txt'), 'alpha\n');
    writeFileSync(join(src, 'docs', 'deep', 'big.bin'), randomBytes(3 * 1024 * 1024), { mode: 0o640 });
    writeFileSync(join(src, 'docs', 'copy.txt'), 'alpha\n');
    writeFileSync(join(src, 'empty'), '');
    symlinkSync('docs/a.txt', join(src, 'link'));
    utimesSync(join(src, 'docs', 'a.txt'), 1_700_000_000, 1_700_000_000);
    catalog = openCatalog(join(dir, 'catalog.db'));
    store = new PackStore({ dir: join(dir, 'packs'), catalog });
    mkdirSync(join(dir, 'tier'));
    tier = await FileTier.create(join(dir, 'tier'), 'tier-1');
  });
  afterEach(async () => {
    await store.close();
    catalog.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** entriesOf ingests the tree into the chunk store, as capture would, and lists it as a timeline state. */
  async function entriesOf(root: string): Promise<Entry[]> {
    const out: Entry[] = [];
    const walk = async (rel: string) => {
      for (const name of readdirSync(join(root, rel)).sort()) {
        const path = rel === '' ? name : `${rel}/${name}`;
        const abs = join(root, path);
        const st = lstatSync(abs);
        const base = {
          path,
          mode: st.mode & 0o7777,
          mtimeMs: Math.floor(st.mtimeMs),
          target: null,
          chunks: null,
        };
        if (st.isDirectory()) {
          out.push({ ...base, kind: 'mkdir', size: 0 });
          await walk(path);
        } else if (st.isSymbolicLink()) {
          out.push({ ...base, kind: 'symlink', size: 0, mode: 0, target: readlinkSync(abs) });
        } else {
          const ingested = await ingestFile(abs, store);
          out.push({ ...base, kind: 'put', size: ingested.size, chunks: ingested.chunks });
        }
      }
    };
    await walk('');
    await store.sync();
    return out.sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  const backup = async (repo: Repository, entries: Entry[], window = new ReadWindow()) =>
    repo.backup({
      volume: 'docs',
      seq: 42,
      at: 1_700_000_000_000,
      node: 'beta',
      takenAt: Date.now(),
      entries,
      readStored: (address) => store.readStored(address, window),
    });

  it('restores exactly what it backed up, and one path alone', async () => {
    const key = RepoKey.generate();
    const repo = await Repository.init(tier, key, 'cluster-ca');
    const { snapshot, totals } = await backup(repo, await entriesOf(src));
    assert.equal(snapshot.files, 4);
    assert.ok(totals.newChunks > 2, 'the big file is several chunks');

    const reopened = await Repository.open(tier, RepoKey.fromKeyFile(key.toKeyFile()));
    const [listed] = await reopened.snapshots();
    assert.equal(listed.id, snapshot.id);
    const into = join(dir, 'restored');
    await reopened.restore(snapshot.id, into);
    assert.equal(await treeHash(into), await treeHash(src));
    assert.equal(lstatSync(join(into, 'docs', 'a.txt')).mtimeMs, 1_700_000_000_000);

    const one = join(dir, 'one');
    await reopened.restore(snapshot.id, one, { path: 'docs/deep' });
    assert.deepEqual(readdirSync(one), ['docs']);
    assert.deepEqual(
      readFileSync(join(one, 'docs', 'deep', 'big.bin')),
      readFileSync(join(src, 'docs', 'deep', 'big.bin')),
    );
  });

  it('restores a backup of many packs exactly (pack buffers are used again once written)', async () => {
    const many = join(dir, 'many');
    mkdirSync(many);
    // ~40 MiB of random data: five packs or more, more than the buffers that may be in use at once.
    for (let i = 0; i < 5; i++) writeFileSync(join(many, `part-${i}.bin`), randomBytes(8 * 1024 * 1024 + i));
    for (let i = 0; i < 200; i++) writeFileSync(join(many, `small-${i}.txt`), randomBytes(100 + i * 37));
    const key = RepoKey.generate();
    const repo = await Repository.init(tier, key, 'cluster-ca');
    const { snapshot } = await backup(repo, await entriesOf(many));
    const into = join(dir, 'restored-many');
    await (await Repository.open(tier, key)).restore(snapshot.id, into);
    for (const name of readdirSync(many))
      assert.deepEqual(readFileSync(join(into, name)), readFileSync(join(many, name)), name);
    const packs = readdirSync(join(dir, 'tier', 'packs'), { recursive: true }).filter(
      (p) => String(p).length > 3,
    );
    assert.ok(packs.length >= 5, `${packs.length} packs`);
  });

  it('writes no chunk and reuses the manifest for an unchanged tree; dedups equal files', async () => {
    const key = RepoKey.generate();
    const repo = await Repository.init(tier, key, 'cluster-ca');
    const entries = await entriesOf(src);
    const first = await backup(repo, entries);
    const second = await backup(repo, entries);
    assert.deepEqual(second.totals, { newChunks: 0, newBytes: 0, manifestReused: true });
    assert.equal(second.snapshot.manifest, first.snapshot.manifest);
    assert.equal((await repo.snapshots()).length, 2);
    const manifest = await repo.manifest(first.snapshot);
    const a = manifest.find((e) => e.path === 'docs/a.txt');
    const copy = manifest.find((e) => e.path === 'docs/copy.txt');
    assert.deepEqual(a?.chunks, copy?.chunks, 'equal content, one chunk');
  });

  it('refuses a wrong key before reading anything, and names the file of a damaged chunk', async () => {
    const key = RepoKey.generate();
    const repo = await Repository.init(tier, key, 'cluster-ca');
    const { snapshot } = await backup(repo, await entriesOf(src));
    await assert.rejects(
      Repository.open(tier, RepoKey.generate()),
      (err: Error & { code?: string }) => err.code === 'E_BACKUP_KEY',
    );
    // Flip one byte inside the pack.
    const packsDir = join(dir, 'tier', 'packs');
    const [sub] = readdirSync(packsDir);
    const [pack] = readdirSync(join(packsDir, sub));
    const file = join(packsDir, sub, pack);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    rmSync(file);
    writeFileSync(file, bytes);
    const reopened = await Repository.open(tier, key);
    await assert.rejects(reopened.restore(snapshot.id, join(dir, 'r')), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'E_BACKUP_CORRUPT');
      assert.match(err.message, /docs\/deep\/big\.bin is damaged/, 'the damaged file is named');
      return true;
    });
  });

  it('refuses to create a second repository where one is', async () => {
    await Repository.init(tier, RepoKey.generate(), 'cluster-ca');
    await assert.rejects(
      Repository.init(tier, RepoKey.generate(), 'other'),
      (err: Error & { code?: string }) => err.code === 'E_TIER_FOREIGN',
    );
  });
});
