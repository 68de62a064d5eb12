import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { hashChunk, PIN_MS, packFileName } from '../../../src/store/index.ts';
import { CHUNKS, chunkData, fill, LIVE, LIVE_REFERENCES, openStore } from './fixtures/collect-store.ts';

const CHILD = path.join(import.meta.dirname, 'fixtures', 'collect-child.ts');

describe('PackStore.collect', () => {
  let dir: string;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hindsight-collect-'));
    await fill(dir);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const packFiles = () =>
    fs
      .readdirSync(path.join(dir, 'packs'))
      .filter((n) => n.endsWith('.pack'))
      .sort();

  /** expectCollected checks the end state of a finished collection, whatever crashed before it. */
  async function expectCollected(): Promise<void> {
    const { catalog, store } = openStore(dir);
    try {
      for (let i = 0; i < CHUNKS; i++) {
        const hash = hashChunk(chunkData(i));
        if (LIVE.has(i)) assert.deepEqual(store.readRaw(hash), chunkData(i), `live chunk ${i}`);
        else assert.equal(store.has(hash), false, `dead chunk ${i} is gone`);
      }
      assert.deepEqual((await store.verify()).bad, []);
      const rows = catalog.prepare('SELECT id FROM packs ORDER BY id').all() as { id: number }[];
      assert.deepEqual(
        packFiles(),
        rows.map((r) => packFileName(r.id)).sort(),
        'no pack without a row, no row without a file',
      );
      const used = catalog.prepare('SELECT DISTINCT pack FROM chunks').all() as { pack: number }[];
      assert.ok(used.length <= rows.length);
    } finally {
      await store.close();
      catalog.close();
    }
  }

  it('drops dead chunks, deletes an emptied pack and rewrites sparse ones', async () => {
    assert.equal(packFiles().length, 4);
    const { catalog, store } = openStore(dir);
    const report = await store.collect(LIVE_REFERENCES);
    assert.equal(report.chunksDropped, CHUNKS - LIVE.size);
    assert.equal(report.packsDeleted, 1, 'pack 2 held nothing live');
    // Packs 1 and 3 are a third live. Pack 4 is the open pack until pack 1's records overflow
    // it into pack 5; sealed then, and a sixth live, it is rewritten too.
    assert.equal(report.packsRewritten, 3);
    assert.equal(fs.existsSync(path.join(dir, 'packs', packFileName(2))), false);
    for (const i of LIVE) assert.deepEqual(store.readRaw(hashChunk(chunkData(i))), chunkData(i));
    await store.close();
    catalog.close();
    await expectCollected();
  });

  it('keeps a chunk that has() found for an hour, however often collection runs', async () => {
    const kept = hashChunk(chunkData(7));
    let now = 0;
    const { catalog, store } = openStore(dir, { now: () => now });
    // Asked without has(), which would pin it again.
    const indexed = () => catalog.prepare('SELECT 1 FROM chunks WHERE hash = ?').get(kept) !== undefined;
    assert.equal(store.has(kept), true); // a dedupe hit: a commit referencing it may be on the way
    for (let i = 0; i < 5; i++) await store.collect(LIVE_REFERENCES);
    now = PIN_MS;
    await store.collect(LIVE_REFERENCES);
    assert.equal(indexed(), true, 'pinned for PIN_MS after it was found');
    now = PIN_MS + 1;
    await store.collect(LIVE_REFERENCES);
    assert.equal(indexed(), false, 'unreferenced and not asked for since: dropped');
    await store.close();
    catalog.close();
  });

  it('keeps a chunk committed with another batch until its own changes can reference it', async () => {
    // Regression: capture read a file (its chunk pending) while another batch was appended; that
    // append's commit indexed the chunk too, and a collection before the file's own batch came
    // dropped it: the primary then failed every link with "chunk … is not stored".
    let now = 0;
    const { catalog, store } = openStore(dir, { now: () => now });
    const data = Buffer.from('a file read while another batch committed');
    const hash = hashChunk(data);
    store.putRaw(hash, data);
    await store.sync();
    store.commitPending(); // the other batch's commit
    const indexed = () => catalog.prepare('SELECT 1 FROM chunks WHERE hash = ?').get(hash) !== undefined;
    await store.collect(LIVE_REFERENCES);
    now = PIN_MS;
    await store.collect(LIVE_REFERENCES);
    assert.equal(indexed(), true, 'pinned by its pack for PIN_MS after its commit');
    now = PIN_MS + 1;
    await store.collect(LIVE_REFERENCES);
    assert.equal(indexed(), false, 'never referenced: dropped after PIN_MS');
    await store.close();
    catalog.close();
  });

  for (const point of ['gc.after-drop', 'gc.after-copy', 'gc.after-move']) {
    it(`recovers from kill -9 at ${point}: live chunks intact, the next collection finishes`, async () => {
      const child = spawnSync(process.execPath, [CHILD, dir], {
        env: { ...process.env, HINDSIGHT_CRASH_AT: point },
        encoding: 'utf8',
      });
      assert.equal(child.signal, 'SIGKILL', `the child stopped at ${point}: ${child.stderr}`);
      const { catalog, store } = openStore(dir);
      for (const i of LIVE)
        assert.deepEqual(store.readRaw(hashChunk(chunkData(i))), chunkData(i), `chunk ${i}`);
      assert.deepEqual((await store.verify()).bad, []);
      await store.collect(LIVE_REFERENCES);
      await store.close();
      catalog.close();
      await expectCollected();
    });
  }
});
