import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { isHindsightError } from '../../../src/core/index.ts';
import {
  type Catalog,
  CODEC_RAW,
  CODEC_ZSTD,
  hashChunk,
  inTransaction,
  openCatalog,
  PACK_MAGIC,
  PackStore,
  type PackStoreOptions,
  packFileName,
  ReadWindow,
} from '../../../src/store/index.ts';

function textChunk(i: number): Buffer {
  return Buffer.from(`chunk ${i} `.repeat(2000));
}

describe('PackStore', () => {
  let dir: string;
  let catalog: Catalog;
  let store: PackStore;
  const open = (extra: Partial<PackStoreOptions> = {}) => {
    catalog = openCatalog(path.join(dir, 'catalog.db'));
    store = new PackStore({ dir: path.join(dir, 'packs'), catalog, ...extra });
    return store;
  };
  const reopen = async (extra: Partial<PackStoreOptions> = {}) => {
    await store.close();
    catalog.close();
    return open(extra);
  };
  const packPath = (id: number) => path.join(dir, 'packs', packFileName(id));
  const put = (data: Buffer) => {
    const hash = hashChunk(data);
    return { hash, isNew: store.putRaw(hash, data) };
  };
  const commit = () => inTransaction(catalog, () => store.commitPending());

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hindsight-packs-'));
    open();
  });
  afterEach(async () => {
    await store.close().catch(() => {});
    catalog.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('puts, syncs, commits and reads chunks, pending ones included', async () => {
    const text = textChunk(1);
    const random = randomBytes(20_000);
    const a = put(text);
    const b = put(random);
    assert.equal(a.isNew && b.isNew, true);
    assert.equal(store.has(a.hash), true);
    assert.deepEqual(store.readRaw(a.hash), text);
    assert.deepEqual(store.missing([a.hash, hashChunk(Buffer.from('x')), a.hash]), [
      hashChunk(Buffer.from('x')),
    ]);
    await store.sync();
    commit();
    assert.deepEqual(store.readRaw(a.hash), text);
    assert.deepEqual(store.readRaw(b.hash), random);
    assert.equal(store.readStored(a.hash).codec, CODEC_ZSTD);
    assert.equal(store.readStored(b.hash).codec, CODEC_RAW);
    const rows = catalog.prepare('SELECT count(*) AS n FROM chunks').get() as { n: number };
    assert.equal(rows.n, 2);
    const file = fs.readFileSync(packPath(1));
    assert.deepEqual(file.subarray(0, 8), PACK_MAGIC);
    assert.throws(
      () => store.readRaw(hashChunk(Buffer.from('nope'))),
      (e) => isHindsightError(e, 'E_CHUNK_MISSING'),
    );
  });

  it('reads committed chunks after a reopen and appends to the same pack', async () => {
    const a = put(textChunk(2));
    await store.sync();
    commit();
    const sizeBefore = fs.statSync(packPath(1)).size;
    await reopen();
    assert.equal(store.has(a.hash), true);
    assert.deepEqual(store.readRaw(a.hash), textChunk(2));
    const b = put(textChunk(3));
    await store.sync();
    commit();
    assert.ok(fs.statSync(packPath(1)).size > sizeBefore);
    assert.equal(fs.existsSync(packPath(2)), false);
    await reopen();
    assert.deepEqual(store.readRaw(b.hash), textChunk(3));
  });

  it('reads through a window what it reads without one: across packs, out of order, and from the open pack', async () => {
    await reopen({ packBytes: 300_000 });
    const sealed = Array.from({ length: 40 }, () => put(randomBytes(20_000)).hash);
    await store.sync();
    commit();
    // Written but not committed, and still pending: both come from the writer, never a window.
    const open = put(randomBytes(20_000)).hash;
    await store.sync();
    const pending = put(randomBytes(5_000)).hash;
    const window = new ReadWindow();
    const order = [...sealed, open, pending, ...sealed.slice(0, 10).reverse(), sealed[35], sealed[3]];
    for (const hash of order) {
      const plain = store.readStored(hash);
      const through = store.readStored(hash, window);
      assert.deepEqual(through.data, plain.data);
      assert.equal(through.codec, plain.codec);
      assert.equal(hashChunk(through.data).equals(hash), true, 'raw random chunks hash to their address');
    }
    assert.ok(fs.existsSync(packPath(2)), 'the chunks span several packs');
  });

  it('does not write a duplicate again', async () => {
    const data = randomBytes(30_000);
    assert.equal(put(data).isNew, true);
    assert.equal(put(data).isNew, false);
    await store.sync();
    const size = fs.statSync(packPath(1)).size;
    commit();
    assert.equal(put(data).isNew, false);
    await store.sync();
    assert.equal(fs.statSync(packPath(1)).size, size);
    await reopen();
    assert.equal(put(data).isNew, false);
  });

  it('survives a crash between sync and commit: the chunk is unknown, the store appends after it', async () => {
    const lost = put(randomBytes(10_000));
    await store.sync();
    const synced = fs.statSync(packPath(1)).size;
    await reopen(); // never committed: as if the process died after sync
    assert.equal(store.has(lost.hash), false);
    const next = put(randomBytes(12_000));
    await store.sync();
    commit();
    assert.equal(fs.statSync(packPath(1)).size, synced + 41 + 12_000);
    assert.equal(put(randomBytes(1)).isNew, true);
    await store.sync();
    commit();
    await reopen();
    assert.equal(store.readRaw(next.hash).length, 12_000);
    assert.deepEqual((await store.verify()).bad, []);
  });

  it('refuses a stored chunk whose bytes do not match its hash, and stores a good one', async () => {
    const good = randomBytes(5000);
    const hash = hashChunk(good);
    const bad = Buffer.from(good);
    bad[100] ^= 1;
    assert.throws(
      () => store.putStored({ hash, codec: CODEC_RAW, rawLen: bad.length, data: bad }),
      (e) => isHindsightError(e, 'E_CHUNK_CORRUPT'),
    );
    assert.equal(store.has(hash), false);
    assert.equal(store.putStored({ hash, codec: CODEC_RAW, rawLen: good.length, data: good }), true);
    // A compressed chunk from another store is kept in its stored form.
    const text = textChunk(4);
    const other = put(text);
    const stored = store.readStored(other.hash);
    await reopen();
    catalog.exec('DELETE FROM chunks');
    assert.equal(store.putStored(stored), true);
    await store.sync();
    commit();
    assert.deepEqual(store.readRaw(other.hash), text);
  });

  it('verify reports a chunk whose bytes were flipped in the pack', async () => {
    const hashes = [put(textChunk(5)).hash, put(randomBytes(9000)).hash, put(textChunk(6)).hash];
    await store.sync();
    commit();
    await store.close();
    const row = catalog.prepare('SELECT offset FROM chunks WHERE hash = ?').get(hashes[1]) as {
      offset: number;
    };
    const fd = fs.openSync(packPath(1), 'r+');
    const one = Buffer.alloc(1);
    fs.readSync(fd, one, 0, 1, row.offset + 500);
    one[0] ^= 0x10;
    fs.writeSync(fd, one, 0, 1, row.offset + 500);
    fs.closeSync(fd);
    catalog.close();
    open();
    const report = await store.verify();
    assert.equal(report.chunks, 3);
    assert.deepEqual(report.bad, [hashes[1].toString('hex')]);
    assert.throws(
      () => store.readRaw(hashes[1]),
      (e) => isHindsightError(e, 'E_CHUNK_CORRUPT'),
    );
    assert.deepEqual(store.readRaw(hashes[0]), textChunk(5));
  });

  it('rotates packs and flushes a full write buffer before sync', async () => {
    await reopen({ packBytes: 100_000, writeBufferBytes: 50_000 });
    const chunks = Array.from({ length: 20 }, () => randomBytes(16_000));
    const hashes = chunks.map((c) => put(c).hash);
    // Buffer limit reached: data is already in the files, and still readable while pending.
    assert.ok(fs.statSync(packPath(1)).size > 50_000);
    assert.deepEqual(store.readRaw(hashes[0]), chunks[0]);
    await store.sync();
    commit();
    const packs = fs.readdirSync(path.join(dir, 'packs')).filter((n) => n.endsWith('.pack'));
    assert.ok(packs.length >= 4, `${packs.length} packs`);
    for (const p of packs) assert.ok(fs.statSync(path.join(dir, 'packs', p)).size <= 100_000);
    await reopen({ packBytes: 100_000 });
    for (const [i, h] of hashes.entries()) assert.deepEqual(store.readRaw(h), chunks[i]);
    const sealed = catalog.prepare('SELECT count(*) AS n FROM packs WHERE sealed = 1').get() as { n: number };
    assert.equal(sealed.n, packs.length - 1);
    const report = await store.verify();
    assert.equal(report.chunks, 20);
    assert.equal(report.bytes, 20 * 16_000);
  });

  it('refuses every write after a failed fsync, never trusts it, and reports it once', async () => {
    const realSync = promisify(fs.fdatasync);
    let calls = 0;
    const failing = async (fd: number) => {
      calls++;
      if (calls === 2) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      await realSync(fd);
    };
    const reported: unknown[] = [];
    await reopen({ fdatasync: failing, onFailed: (err) => reported.push(err) });
    const a = put(textChunk(10));
    await store.sync();
    commit();
    const b = put(textChunk(11));
    await assert.rejects(store.sync(), (e) => isHindsightError(e, 'E_STORE_FAILED'));
    assert.throws(
      () => store.commitPending(),
      (e) => isHindsightError(e, 'E_STORE_FAILED'),
    );
    assert.throws(
      () => put(textChunk(12)),
      (e) => isHindsightError(e, 'E_STORE_FAILED'),
    );
    await assert.rejects(store.sync(), (e) => isHindsightError(e, 'E_STORE_FAILED'));
    assert.equal(calls, 2, 'the failed fsync is not retried');
    assert.equal(reported.length, 1, 'the failure is reported once');
    assert.ok(isHindsightError(reported[0], 'E_STORE_FAILED'));
    assert.equal(((reported[0] as Error).cause as NodeJS.ErrnoException).code, 'EIO');
    await reopen();
    assert.equal(store.has(a.hash), true);
    assert.equal(store.has(b.hash), false);
    assert.equal(put(textChunk(11)).isNew, true);
  });

  it('commits only synced chunks and refuses use after close', async () => {
    const a = put(textChunk(7));
    await store.sync();
    const b = put(textChunk(8));
    commit();
    const n = (catalog.prepare('SELECT count(*) AS n FROM chunks').get() as { n: number }).n;
    assert.equal(n, 1);
    assert.equal(store.has(b.hash), true);
    await store.sync();
    store.commitPending(); // outside a transaction it opens its own
    assert.equal(store.has(a.hash) && store.has(b.hash), true);
    await store.close();
    assert.throws(
      () => put(textChunk(9)),
      (e) => isHindsightError(e, 'E_STORE_CLOSED'),
    );
  });
});
