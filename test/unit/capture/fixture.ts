import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChangeBatch,
  FileRows,
  GlobFilter,
  Outbox,
  VolumeCapture,
  type VolumeCaptureDeps,
} from '../../../src/capture/index.ts';
import { Reconciler } from '../../../src/capture/reconcile.ts';
import { Scanner } from '../../../src/capture/scan.ts';
import {
  type Change,
  DEFAULT_GUARD,
  DEFAULT_HISTORY_MS,
  DEFAULT_ROLES,
  type EventInput,
  type EventSink,
  HASH_BYTES,
  type VolumeSpec,
} from '../../../src/core/index.ts';
import { type Catalog, openCatalog, PackStore } from '../../../src/store/index.ts';
import { createLogger, type FileOps, SystemClock } from '../../../src/sys/index.ts';

/** EventList is an in-memory EventSink for tests: it keeps what was emitted. */
export class EventList implements EventSink {
  readonly events: EventInput[] = [];
  emit(event: EventInput): void {
    this.events.push(event);
  }
  ofType(type: EventInput['type']): EventInput[] {
    return this.events.filter((e) => e.type === type);
  }
}

/** CaptureEnv is a real catalog, pack store and volume root in a temp dir. */
export interface CaptureEnv {
  dir: string;
  root: string;
  catalog: Catalog;
  store: PackStore;
  outbox: Outbox;
  events: EventList;
  clock: SystemClock;
  volume: string;
  cleanup(): Promise<void>;
}

/** makeEnv creates a primary volume `vol` with the given mirrors, rooted at `<tmp>/root`. */
export function makeEnv(mirrors: string[] = ['m1'], options: { fs?: FileOps } = {}): CaptureEnv {
  const dir = mkdtempSync(join(tmpdir(), 'hs-capture-'));
  const root = join(dir, 'root');
  mkdirSync(root);
  const catalog = openCatalog(join(dir, 'catalog.db'));
  const store = new PackStore({ dir: join(dir, 'packs'), catalog, fs: options.fs });
  const volume = 'vol';
  const spec: VolumeSpec = {
    name: volume,
    kind: 'files',
    primary: { node: 'p', path: root },
    mirrors: mirrors.map((node) => ({ node, path: `/mirror/${node}`, delayMs: 0, views: [] })),
    include: [],
    exclude: [],
    historyMs: DEFAULT_HISTORY_MS,
    guard: DEFAULT_GUARD,
    roles: DEFAULT_ROLES,
    createdAt: 1,
  };
  catalog
    .prepare("INSERT INTO volumes (name, spec, role, path) VALUES (?, ?, 'primary', ?)")
    .run(volume, JSON.stringify(spec), root);
  return {
    dir,
    root,
    catalog,
    store,
    outbox: new Outbox(catalog),
    events: new EventList(),
    clock: new SystemClock(),
    volume,
    async cleanup() {
      await store.close();
      catalog.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** quietLog is a logger that writes nowhere. */
export const quietLog = createLogger('test', { write: () => {} });

/** makeReconciler wires a Reconciler over an env, with the rows and batch it writes through. */
export function makeReconciler(env: CaptureEnv): {
  reconciler: Reconciler;
  rows: FileRows;
  batch: ChangeBatch;
} {
  const rows = new FileRows(env.catalog, env.volume);
  const batch = new ChangeBatch({
    outbox: env.outbox,
    store: env.store,
    volume: env.volume,
    onAppended: () => {},
  });
  const { store, events, clock, volume, root } = env;
  return { reconciler: new Reconciler({ root, rows, batch, store, events, clock, volume }), rows, batch };
}

/** makeScanner wires a Scanner over an env, as VolumeCapture does. */
export function makeScanner(env: CaptureEnv, include: string[] = [], exclude: string[] = []): Scanner {
  const { reconciler, rows, batch } = makeReconciler(env);
  const filter = new GlobFilter(include, exclude);
  const { events, clock, volume, root } = env;
  return new Scanner({ root, rows, filter, reconciler, batch, events, clock, volume });
}

/** allChanges returns every change in the outbox after `after`. */
export function allChanges(env: CaptureEnv, after = 0): Change[] {
  return env.outbox.readAfter(env.volume, after, 1_000_000);
}

/** summary renders changes as "kind path" lines, for readable assertions. */
export function summary(changes: Change[]): string[] {
  return changes.map((c) => `${c.kind} ${c.path}`);
}

/** contentOf reassembles the content of a put from the store. */
export function contentOf(env: CaptureEnv, change: Change): Buffer {
  const parts: Buffer[] = [];
  const chunks = change.chunks ?? Buffer.alloc(0);
  for (let i = 0; i < chunks.length; i += HASH_BYTES)
    parts.push(env.store.readRaw(chunks.subarray(i, i + HASH_BYTES)));
  return Buffer.concat(parts);
}

/** waitFor polls `fn` until it returns a truthy value or `ms` pass; the deadline only bounds a hang. */
export async function waitFor<T>(fn: () => T | undefined | false, what: string, ms = 15_000): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** makeCapture builds a VolumeCapture over a test env, with short settle times for tests. */
export function makeCapture(env: CaptureEnv, options: Partial<VolumeCaptureDeps> = {}): VolumeCapture {
  return new VolumeCapture({
    catalog: env.catalog,
    store: env.store,
    outbox: env.outbox,
    events: env.events,
    clock: env.clock,
    log: quietLog,
    volume: env.volume,
    root: env.root,
    include: [],
    exclude: [],
    settleMs: 50,
    ...options,
  });
}
