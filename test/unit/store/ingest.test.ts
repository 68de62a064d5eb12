import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isHindsightError } from '../../../src/core/index.ts';
import { type Catalog, ingestFile, inTransaction, openCatalog, PackStore } from '../../../src/store/index.ts';

describe('ingestFile', () => {
  let dir: string;
  let catalog: Catalog;
  let store: PackStore;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hindsight-ingest-'));
    catalog = openCatalog(path.join(dir, 'catalog.db'));
    store = new PackStore({ dir: path.join(dir, 'packs'), catalog });
  });
  afterEach(async () => {
    await store.close();
    catalog.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const reassemble = (chunks: Buffer) => {
    const parts: Buffer[] = [];
    for (let i = 0; i < chunks.length; i += 32) parts.push(store.readRaw(chunks.subarray(i, i + 32)));
    return Buffer.concat(parts);
  };

  it('stores a file of several MiB as chunks that reassemble to it', async () => {
    const text = Buffer.from('a line of text that compresses well\n'.repeat(60_000));
    const content = Buffer.concat([randomBytes(3 * 1024 * 1024 + 123), text, randomBytes(777)]);
    const file = path.join(dir, 'big.bin');
    fs.writeFileSync(file, content);
    const got = await ingestFile(file, store, { blockSize: 1024 * 1024 });
    assert.equal(got.size, content.length);
    assert.equal(got.stable, true);
    assert.equal(got.chunks.length % 32, 0);
    assert.ok(got.newBytes > 3 * 1024 * 1024 && got.newBytes <= content.length);
    const st = fs.statSync(file, { bigint: true });
    assert.deepEqual(got.stat, {
      size: content.length,
      mtimeNs: st.mtimeNs,
      ctimeNs: st.ctimeNs,
      ino: Number(st.ino),
      mode: Number(st.mode),
    });
    assert.deepEqual(reassemble(got.chunks), content);
    await store.sync();
    inTransaction(catalog, () => store.commitPending());
    const again = await ingestFile(file, store);
    assert.deepEqual(again.chunks, got.chunks);
    assert.equal(again.newBytes, 0);
    assert.deepEqual(reassemble(again.chunks), content);
  });

  it('ingests an empty file as no chunks', async () => {
    const file = path.join(dir, 'empty');
    fs.writeFileSync(file, '');
    const got = await ingestFile(file, store);
    assert.equal(got.size, 0);
    assert.equal(got.chunks.length, 0);
    assert.equal(got.stable, true);
  });

  it('refuses a symlink, a directory and a FIFO without blocking', async () => {
    const target = path.join(dir, 'target');
    fs.writeFileSync(target, 'data');
    fs.symlinkSync(target, path.join(dir, 'link'));
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    for (const name of ['link', 'packs', 'fifo']) {
      await assert.rejects(ingestFile(path.join(dir, name), store), (e) =>
        isHindsightError(e, 'E_INGEST_NOT_FILE'),
      );
    }
    await assert.rejects(ingestFile(path.join(dir, 'absent'), store), { code: 'ENOENT' });
  });

  it('reports a file written during the read as unstable', async () => {
    const file = path.join(dir, 'growing.log');
    fs.writeFileSync(file, randomBytes(3 * 1024 * 1024));
    let isAppended = false;
    const got = await ingestFile(file, store, {
      blockSize: 1024 * 1024,
      afterRead: () => {
        if (isAppended) return;
        isAppended = true;
        fs.appendFileSync(file, 'more');
      },
    });
    assert.equal(got.stable, false);
    const still = await ingestFile(file, store);
    assert.equal(still.stable, true);
    assert.deepEqual(reassemble(still.chunks), fs.readFileSync(file));
  });

  it('reports a file rewritten in place (same size) during the read as unstable', async () => {
    const file = path.join(dir, 'db.bin');
    fs.writeFileSync(file, randomBytes(2 * 1024 * 1024));
    // Timestamps are as coarse as the kernel tick: an old mtime makes the rewrite visible.
    fs.utimesSync(file, new Date(2020, 0, 1), new Date(2020, 0, 1));
    let isWritten = false;
    const got = await ingestFile(file, store, {
      blockSize: 512 * 1024,
      afterRead: () => {
        if (isWritten) return;
        isWritten = true;
        const fd = fs.openSync(file, 'r+');
        fs.writeSync(fd, Buffer.from('X'), 0, 1, 10);
        fs.closeSync(fd);
      },
    });
    assert.equal(got.stable, false);
  });
});
