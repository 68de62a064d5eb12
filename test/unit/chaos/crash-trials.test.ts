import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Catalog, hashChunk, inTransaction, openCatalog, PackStore } from '../../../src/store/index.ts';
import { type FileOps, isStagingName, writeFileDurable } from '../../../src/sys/index.ts';
import { CrashFs, isCrash, withoutDirectorySync, withoutFdatasync } from '../../harness/crash-fs.ts';
import { createRng, type Rng, seedFromEnv } from '../../harness/rng.ts';

/**
 * Crash trials: our storage code runs on a CrashFs, the machine crashes after a random number
 * of calls, and the state a power cut may leave is checked. The positive controls run the same
 * checks on a deliberately broken file system and must find losses: the proof that the
 * trials can catch a durability bug at all.
 */

const TRIALS = Number(process.env.HINDSIGHT_CRASH_TRIALS ?? 150);
const seed = seedFromEnv();

/** trialSeed gives trial `i` its own stream: `createRng(trialSeed(i))` repeats that trial alone. */
const trialSeed = (i: number): number => (seed + Math.imul(i, 0x9e3779b9)) >>> 0;
const trialRng = (i: number): Rng => createRng(trialSeed(i));

type Wrap = (crash: CrashFs) => FileOps;
const correct: Wrap = (crash) => crash;

interface TrialResult {
  violations: string[];
  calls: number;
}

/** runTrials runs `trial` TRIALS times and returns the trials that found a violation. */
async function runTrials(
  tmp: string,
  name: string,
  trial: (dir: string, rng: Rng) => Promise<TrialResult>,
): Promise<{ failed: string[]; calls: number }> {
  const failed: string[] = [];
  let calls = 0;
  for (let i = 0; i < TRIALS; i++) {
    const dir = fs.mkdtempSync(path.join(tmp, `${name}-${i}-`));
    const result = await trial(dir, trialRng(i));
    calls += result.calls;
    if (result.violations.length > 0) {
      failed.push(`trial ${i} (trial seed ${trialSeed(i)}): ${result.violations.slice(0, 3).join('; ')}`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { failed, calls };
}

// ─── the pack store ───────────────────────────────────────────────────────────────────────

/** A pack trial runs PACK_ROUNDS rounds; a whole one makes about PACK_CALLS calls, where its crash falls. */
const PACK_ROUNDS = 10;
const PACK_CALLS = 60;

function chunkFor(rng: Rng): Buffer {
  const size = rng.int(200, 9000);
  // Half compressible (stored as zstd), half random (stored raw).
  return rng.chance(0.5) ? Buffer.from(`${rng.int(0, 1e9)} `.repeat(size).slice(0, size)) : rng.bytes(size);
}

/**
 * openTrialCatalog opens a real catalog, a copy of one migrated once, without its fsyncs:
 * SQLite lies outside the crash layer, and what it committed is taken as durable (the daemon
 * runs it with synchronous=FULL) by copying it at the crash, so its own syncs would only cost time.
 */
function openTrialCatalog(file: string): Catalog {
  if (!fs.existsSync(file)) fs.copyFileSync(templateCatalog(), file);
  const catalog = openCatalog(file);
  catalog.exec('PRAGMA synchronous = OFF');
  return catalog;
}

let template: string | undefined;
function templateCatalog(): string {
  if (template === undefined) {
    template = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hindsight-crash-catalog-')), 'catalog.db');
    openCatalog(template).close();
  }
  return template;
}

/** copyCommitted copies what `catalog` committed to `file` (a checkpoint folds the WAL into the database). */
function copyCommitted(catalog: Catalog, from: string, to: string): void {
  catalog.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  fs.copyFileSync(from, to);
}

/**
 * packTrial puts chunks through a real PackStore and catalog on a CrashFs: rounds of put, sync,
 * commit (the order of receive and ingest), sometimes a garbage collection, sometimes a close
 * and reopen or a kill -9 and restart (resume through the crash layer). A chunk is acknowledged once the transaction holding its row committed.
 * After the crash, the catalog is what SQLite committed; every acknowledged chunk must read
 * back, verify must find nothing bad, and the store must take and keep new chunks.
 */
async function packTrial(dir: string, rng: Rng, wrap: Wrap, crashAfter?: number): Promise<TrialResult> {
  const state = path.join(dir, 'state');
  fs.mkdirSync(state);
  const crash = new CrashFs(state);
  crash.crashAfter = crashAfter ?? rng.int(1, PACK_CALLS);
  const catalog = openTrialCatalog(path.join(dir, 'catalog.db'));
  const options = {
    dir: path.join(state, 'packs'),
    catalog,
    fs: wrap(crash),
    packBytes: 24 * 1024,
    writeBufferBytes: 8 * 1024,
  };
  const acked = new Map<string, Buffer>();
  let store: PackStore | undefined;
  try {
    store = new PackStore(options);
    for (let round = 0; round < PACK_ROUNDS; round++) {
      const batch = Array.from({ length: rng.int(1, 4) }, () => chunkFor(rng));
      for (const data of batch) store.putRaw(hashChunk(data), data);
      if (rng.chance(0.1)) {
        // kill -9 before the sync: the batch is lost, the next process starts on what is there.
        crash.kill();
        store = new PackStore(options);
        continue;
      }
      await store.sync();
      inTransaction(catalog, () => store!.commitPending());
      for (const data of batch) acked.set(hashChunk(data).toString('hex'), data);
      if (rng.chance(0.2)) {
        // Garbage collection: drop some chunks, delete emptied packs, rewrite sparse ones.
        for (const hex of [...acked.keys()]) if (rng.chance(0.4)) acked.delete(hex);
        await store.collect(
          [{ name: 'acked', chunkLists: () => [...acked.keys()].map((hex) => Buffer.from(hex, 'hex')) }],
          0.6,
        );
      }
      if (rng.chance(0.2)) {
        await store.close();
        store = new PackStore(options);
      }
    }
  } catch (err) {
    if (!isCrash(err)) throw err;
  }
  await store?.close().catch(() => {});
  const crashed = path.join(dir, 'crashed');
  fs.mkdirSync(crashed);
  crash.crash(rng, path.join(crashed, 'state'));
  // SQLite is outside the crash layer: what it committed is durable (synchronous=FULL).
  copyCommitted(catalog, path.join(dir, 'catalog.db'), path.join(crashed, 'catalog.db'));
  catalog.close();
  return { violations: await checkPacks(crashed, acked, rng), calls: crash.calls };
}

async function checkPacks(crashed: string, acked: Map<string, Buffer>, rng: Rng): Promise<string[]> {
  const violations: string[] = [];
  const catalog = openTrialCatalog(path.join(crashed, 'catalog.db'));
  // Recovery runs on real files through a CrashFs that never crashes: it skips the real fsyncs.
  const options = {
    dir: path.join(crashed, 'state', 'packs'),
    catalog,
    packBytes: 24 * 1024,
    fs: new CrashFs(path.join(crashed, 'state')),
  };
  let store: PackStore | undefined;
  const readAll = (what: string, chunks: Map<string, Buffer>) => {
    for (const [hex, data] of chunks) {
      try {
        if (!store!.readRaw(Buffer.from(hex, 'hex')).equals(data)) violations.push(`${what} ${hex} differs`);
      } catch (err) {
        violations.push(`${what} ${hex.slice(0, 12)}: ${(err as Error).message}`);
      }
    }
  };
  try {
    store = new PackStore(options);
    readAll('acknowledged chunk', acked);
    const bad = (await store.verify()).bad;
    if (bad.length > 0) violations.push(`verify found ${bad.length} bad chunks`);
    // Recovery: the store resumes its newest pack; what it appends must not hurt what is there.
    const fresh = new Map<string, Buffer>();
    for (let i = 0; i < 3; i++) {
      const data = chunkFor(rng);
      store.putRaw(hashChunk(data), data);
      fresh.set(hashChunk(data).toString('hex'), data);
    }
    await store.sync();
    inTransaction(catalog, () => store!.commitPending());
    await store.close();
    store = new PackStore(options);
    readAll('acknowledged chunk after recovery', acked);
    readAll('chunk written after recovery', fresh);
  } catch (err) {
    violations.push(`recovery failed: ${(err as Error).message}`);
  } finally {
    await store?.close().catch(() => {});
    catalog.close();
  }
  return violations;
}

/**
 * dropEveryEntry is the harshest power cut for names: every create, rename and unlink not yet
 * made durable by a directory fsync is lost (`chance` is always false), every write is kept whole.
 */
const dropEveryEntry: Rng = { ...createRng(1), chance: () => false };

/**
 * restartScenario is the deterministic form of a trial: a process opens the store, creating
 * `packs/` (and with `withPack` a pack, written but never synced), and is killed before its
 * first sync; a second process opens the same directory, puts, syncs and commits chunks; then
 * a power cut drops every directory entry that was not fsynced. It returns the violations:
 * every committed chunk must read back.
 */
async function restartScenario(dir: string, withPack: boolean): Promise<string[]> {
  const state = path.join(dir, 'state');
  const packs = path.join(state, 'packs');
  fs.mkdirSync(state);
  const crash = new CrashFs(state);
  const catalog = openTrialCatalog(path.join(dir, 'catalog.db'));
  const options = { dir: packs, catalog, fs: crash, packBytes: 24 * 1024, writeBufferBytes: 1024 };
  const rng = createRng(1);
  const first = new PackStore(options);
  if (withPack) {
    // Larger than the write buffer: written at once, so the pack is there for the next process.
    const data = rng.bytes(2000);
    first.putRaw(hashChunk(data), data);
    assert.equal(fs.readdirSync(packs).length, 1, 'the first process left a pack');
  }
  crash.kill();
  const second = new PackStore(options);
  const acked = new Map<string, Buffer>();
  for (let i = 0; i < 3; i++) {
    const data = rng.bytes(1000);
    second.putRaw(hashChunk(data), data);
    acked.set(hashChunk(data).toString('hex'), data);
  }
  await second.sync();
  inTransaction(catalog, () => second.commitPending());
  await second.close();
  // One pack: with `withPack` the second process appended to the pack it resumed (a pack of
  // its own would have been fsynced as new, and the scenario would test nothing).
  assert.equal(fs.readdirSync(packs).length, 1, 'one pack');
  const crashed = path.join(dir, 'crashed');
  fs.mkdirSync(crashed);
  crash.crash(dropEveryEntry, path.join(crashed, 'state'));
  copyCommitted(catalog, path.join(dir, 'catalog.db'), path.join(crashed, 'catalog.db'));
  catalog.close();
  return checkPacks(crashed, acked, createRng(2));
}

// ─── writeFileDurable ─────────────────────────────────────────────────────────────────────

const REPLACEMENTS = 4;

/**
 * durableTrial replaces a config file REPLACEMENTS times with writeFileDurable on a CrashFs.
 * After the crash the file must hold, whole, the last version whose call returned, or the
 * one in flight: never a mix, never an older one, never nothing.
 */
async function durableTrial(dir: string, rng: Rng, wrap: Wrap): Promise<TrialResult> {
  const state = path.join(dir, 'state');
  const target = path.join(state, 'config.json');
  fs.mkdirSync(state);
  const versions: Buffer[] = [Buffer.from('{"version": 0}\n')];
  for (let i = 1; i <= REPLACEMENTS; i++)
    versions.push(rng.chance(0.2) ? Buffer.alloc(0) : rng.bytes(rng.int(1, 6000)));
  fs.writeFileSync(target, versions[0]);
  const crash = new CrashFs(state);
  // Each replacement takes 6 calls (open, write, fsync, rename, open and fsync of the directory).
  crash.crashAfter = rng.int(0, 6 * REPLACEMENTS);
  let returned = 0;
  try {
    for (let i = 1; i <= REPLACEMENTS; i++) {
      await writeFileDurable(target, versions[i], 0o600, wrap(crash));
      returned = i;
    }
  } catch (err) {
    if (!isCrash(err)) throw err;
  }
  const out = path.join(dir, 'crashed');
  crash.crash(rng, out);
  const violations: string[] = [];
  const after = path.join(out, 'config.json');
  if (!fs.existsSync(after)) {
    violations.push(`config.json is gone after ${returned} returned replacements`);
  } else {
    const content = fs.readFileSync(after);
    const allowed = [versions[returned], versions[returned + 1]].filter((v) => v !== undefined);
    if (!allowed.some((v) => v.equals(content))) {
      const which = versions.findIndex((v) => v.equals(content));
      violations.push(
        `config.json holds ${which < 0 ? `a mix (${content.length} bytes)` : `version ${which}`} after ${returned} returned`,
      );
    }
  }
  for (const name of fs.readdirSync(out)) {
    if (name !== 'config.json' && !isStagingName(name)) violations.push(`unexpected file ${name}`);
  }
  return { violations, calls: crash.calls };
}

// ─── the suite ────────────────────────────────────────────────────────────────────────────

describe('crash trials', () => {
  let tmp: string;
  before(() => {
    console.log(`seed ${seed} (HINDSIGHT_SEED to repeat)`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hindsight-crash-'));
  });
  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (template !== undefined) fs.rmSync(path.dirname(template), { recursive: true, force: true });
  });

  it('the pack store keeps every acknowledged chunk and recovers, whatever a crash keeps', async () => {
    // Without a crash, a trial makes about PACK_CALLS calls: crashes fall all along it.
    const full = await packTrial(fs.mkdtempSync(path.join(tmp, 'full-')), trialRng(-1), correct, 1e9);
    assert.deepEqual(full.violations, []);
    assert.ok(full.calls >= PACK_CALLS / 2, `a full trial made ${full.calls} calls`);
    const { failed, calls } = await runTrials(tmp, 'pack', (dir, rng) => packTrial(dir, rng, correct));
    console.log(`chaos-summary crash-trials: pack store: ${TRIALS} crashes after ${calls} calls in all`);
    assert.deepEqual(failed, [], `seed ${seed}`);
  });

  // The two deterministic scenarios are the real regression tests of the bugs that trial seeds
  // 422555769 and 626985328 found: each fails if its fix is undone. The seeds are kept as extra
  // cases only: any change to the trial code or to its use of the RNG moves their random path,
  // and they would then pass without reaching the bug.
  describe('regressions: a restart after a kill -9 before the first sync', () => {
    // A process killed after creating the packs directory, before its first sync; the next
    // one found the directory there, never fsynced its parent, and lost it at a power cut.
    it('a restart fsyncs the parent of a packs directory it did not create', async () => {
      const dir = fs.mkdtempSync(path.join(tmp, 'restart-dir-'));
      assert.deepEqual(await restartScenario(dir, false), []);
    });

    // A process killed after creating a pack, before its first sync; the next one resumed that
    // pack, committed rows into it, never fsynced the directory, and lost it at a power cut.
    it('a restart fsyncs the directory of the pack it resumes', async () => {
      const dir = fs.mkdtempSync(path.join(tmp, 'restart-pack-'));
      assert.deepEqual(await restartScenario(dir, true), []);
    });

    const once = async (trialSeed: number) => {
      const dir = fs.mkdtempSync(path.join(tmp, `seed-${trialSeed}-`));
      const { violations } = await packTrial(dir, createRng(trialSeed), correct);
      assert.deepEqual(violations, []);
    };
    it('trial seed 422555769 (found the unsynced parent of packs/)', () => once(422555769));
    it('trial seed 626985328 (found the unsynced name of a resumed pack)', () => once(626985328));
  });

  it('writeFileDurable leaves the old or the whole new file, and the new one once it returned', async () => {
    const { failed, calls } = await runTrials(tmp, 'durable', (dir, rng) => durableTrial(dir, rng, correct));
    console.log(
      `chaos-summary crash-trials: writeFileDurable: ${TRIALS} crashes after ${calls} calls in all`,
    );
    assert.deepEqual(failed, [], `seed ${seed}`);
  });

  describe('positive controls: a broken file system must be caught', () => {
    it('writeFileDurable without the directory fsync loses a returned replacement', async () => {
      const { failed } = await runTrials(tmp, 'durable-nodirsync', (dir, rng) =>
        durableTrial(dir, rng, withoutDirectorySync),
      );
      console.log(
        `chaos-summary crash-trials: writeFileDurable without directory fsync: ${failed.length}/${TRIALS} trials caught it`,
      );
      assert.ok(failed.length > 0, 'the crash trials did not notice renames without a directory fsync');
    });

    it('the pack store without the directory fsync loses acknowledged chunks', async () => {
      const { failed } = await runTrials(tmp, 'pack-nodirsync', (dir, rng) =>
        packTrial(dir, rng, withoutDirectorySync),
      );
      console.log(
        `chaos-summary crash-trials: pack store without directory fsync: ${failed.length}/${TRIALS} trials caught it`,
      );
      assert.ok(failed.length > 0, 'the crash trials did not notice new packs without a directory fsync');
    });

    it('the pack store without fdatasync loses acknowledged chunks', async () => {
      const { failed } = await runTrials(tmp, 'pack-nodatasync', (dir, rng) =>
        packTrial(dir, rng, withoutFdatasync),
      );
      console.log(
        `chaos-summary crash-trials: pack store without fdatasync: ${failed.length}/${TRIALS} trials caught it`,
      );
      assert.ok(failed.length > 0, 'the crash trials did not notice pack data that was never synced');
    });
  });
});
