import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Change, Clock, EventInput } from '../../../src/core/index.ts';
import {
  type Catalog,
  type ChunkStore,
  hashChunk,
  inTransaction,
  openCatalog,
  PackStore,
} from '../../../src/store/index.ts';
import { createLogger, SystemClock, type TreeOps } from '../../../src/sys/index.ts';
import { ensureView, recordVersions, ViewApplier } from '../../../src/timeline/index.ts';

/** Fixture is a mirror in a temp dir: a real catalog, a real pack store, and one view. */
export interface Fixture {
  dir: string;
  root: string;
  catalog: Catalog;
  store: ChunkStore;
  events: EventInput[];
  applier: ViewApplier;
  nextSeq: number;
  clock: TestClock;
  close(): Promise<void>;
}

/** TestClock is a Clock whose wall time the test sets; sleeping uses real timers. */
export interface TestClock extends Clock {
  t: number;
}

function testClock(): TestClock {
  const real = new SystemClock();
  return {
    t: 1_700_000_000_000,
    now() {
      return this.t;
    },
    monotonic: () => real.monotonic(),
    sleep: (ms, signal) => real.sleep(ms, signal),
    every: (ms, fn) => real.every(ms, fn),
  };
}

/** openFixture makes a temp state dir with a catalog, a store and a view 'main' at `root`. */
export async function openFixture(
  options: { syncFileSystem?: (dir: string) => Promise<void>; ops?: TreeOps } = {},
): Promise<Fixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hindsight-timeline-'));
  const root = path.join(dir, 'view');
  fs.mkdirSync(root);
  const catalog = openCatalog(path.join(dir, 'catalog.db'));
  const store: ChunkStore = await PackStore.open({ dir: path.join(dir, 'packs'), catalog });
  const events: EventInput[] = [];
  const log = createLogger('test', { write: () => {} });
  ensureView(catalog, 'vol', 'main', root);
  const clock = testClock();
  const applier = new ViewApplier({
    catalog,
    store,
    events: { emit: (e) => events.push(e) },
    log,
    funnelNow: () => clock.now(),
    volume: 'vol',
    view: 'main',
    root,
    syncFileSystem: options.syncFileSystem,
    ops: options.ops,
  });
  return {
    dir,
    root,
    catalog,
    store,
    events,
    applier,
    nextSeq: 1,
    clock,
    async close() {
      await store.close();
      catalog.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** ChangeInput is a change without the fields a test does not care about. */
export type ChangeInput = Partial<Change> & Pick<Change, 'path' | 'kind'>;

/** change fills in the defaults of a change (the seq comes from the fixture). */
export function change(fx: Fixture, input: ChangeInput): Change {
  return {
    volume: 'vol',
    epoch: 1,
    seq: fx.nextSeq++,
    mode: input.kind === 'delete' ? 0 : input.kind === 'mkdir' ? 0o755 : 0o644,
    mtimeMs: 1_700_000_000_000,
    size: 0,
    chunks: input.kind === 'put' ? Buffer.alloc(0) : null,
    target: null,
    capturedAt: 1_700_000_000_000,
    ...input,
  };
}

/** putChange stores `content` as chunks of `chunkSize` bytes and returns a put change for it. */
export async function putChange(fx: Fixture, p: string, content: Buffer, chunkSize = 1 << 20, mode = 0o644) {
  const hashes: Buffer[] = [];
  for (let off = 0; off < content.length; off += chunkSize) {
    const raw = content.subarray(off, off + chunkSize);
    const hash = hashChunk(raw);
    fx.store.putRaw(hash, Buffer.from(raw));
    hashes.push(hash);
  }
  await fx.store.sync();
  inTransaction(fx.catalog, () => fx.store.commitPending());
  return change(fx, { path: p, kind: 'put', size: content.length, chunks: Buffer.concat(hashes), mode });
}

/** record stores changes as versions in one transaction, as the receiver does. */
export function record(fx: Fixture, changes: Change[], receivedAt = 1_700_000_000_000): void {
  const receipt = { wallMs: receivedAt, funnelMs: receivedAt, clockOffsetMs: 0 };
  inTransaction(fx.catalog, () => recordVersions(fx.catalog, changes, receipt, 'primary'));
}

/** Entry describes one path of a tree, as compared by the tests. */
export type Entry =
  | { type: 'file'; mode: number; content: string }
  | { type: 'dir'; mode: number }
  | { type: 'link'; target: string };

/** readTree lists a directory tree without following symlinks, by relative path. */
export function readTree(root: string): Record<string, Entry> {
  const out: Record<string, Entry> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const full = path.join(root, r);
      const st = fs.lstatSync(full);
      if (st.isSymbolicLink()) out[r] = { type: 'link', target: fs.readlinkSync(full) };
      else if (st.isDirectory()) {
        out[r] = { type: 'dir', mode: st.mode & 0o7777 };
        walk(r);
      } else out[r] = { type: 'file', mode: st.mode & 0o7777, content: fs.readFileSync(full, 'latin1') };
    }
  };
  walk('');
  return out;
}

/** appliedSeq reads the view's persisted position. */
export function appliedSeq(fx: Fixture): number {
  const row = fx.catalog
    .prepare("SELECT applied_seq FROM views WHERE volume = 'vol' AND name = 'main'")
    .get() as {
    applied_seq: number;
  };
  return row.applied_seq;
}
