/**
 * scan-child.ts runs capture's scanner once over one volume, alone in its process, so that the
 * scan benchmark (capture-scenarios.ts) measures it exactly as it measures rsync: wall time, peak
 * RSS and the I/O counters of a whole process.
 *
 *     node bench/scan-child.ts STATE_DIR ROOT WHY
 *
 * The first run creates the catalog and the volume's row in STATE_DIR, and its scan records every
 * entry below ROOT (capture's first scan); a later run opens that catalog and compares. It prints
 * one JSON line, a ScanChildResult.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ChangeBatch, FileRows, GlobFilter, Outbox, Scanner } from '../src/capture/index.ts';
// Not on capture's public surface: VolumeCapture wires it the same way, with the watch beside it,
// which this benchmark leaves out to measure the scan alone.
import { Reconciler } from '../src/capture/reconcile.ts';
import {
  DEFAULT_GUARD,
  DEFAULT_HISTORY_MS,
  DEFAULT_ROLES,
  type EventInput,
  type EventSink,
  type VolumeSpec,
} from '../src/core/index.ts';
import { openCatalog, PackStore } from '../src/store/index.ts';
import { SystemClock } from '../src/sys/index.ts';
import { VolumeTable } from '../src/volumes/index.ts';

/** ScanChildResult is the line scan-child prints: what the scan saw and what the process used. */
export interface ScanChildResult {
  /** The scan alone, in milliseconds, without the process start and the catalog's opening. */
  ms: number;
  entries: number;
  changed: number;
  failed: number;
  /** VmHWM of this process at the end. */
  rssPeakBytes: number;
  /** /proc/self/io at the end: syscr, rchar, read_bytes, … */
  io: Record<string, number>;
  /** Events the scan raised, by type. */
  events: Record<string, number>;
}

const VOLUME = 'scan';

/** EventCounts is an EventSink that only counts, by type: nothing reads the events of this run. */
class EventCounts implements EventSink {
  readonly byType: Record<string, number> = {};
  emit(event: EventInput): void {
    this.byType[event.type] = (this.byType[event.type] ?? 0) + 1;
  }
}

async function main(argv: string[]): Promise<void> {
  const [stateDir, root, why] = argv;
  if (!stateDir || !root || !why) throw new Error('usage: scan-child.ts STATE_DIR ROOT WHY');
  mkdirSync(stateDir, { recursive: true });
  const catalog = openCatalog(path.join(stateDir, 'catalog.db'));
  const volumes = new VolumeTable(catalog);
  if (volumes.get(VOLUME) === undefined) volumes.insert(specOf(root), 'primary', root);
  const store = new PackStore({ dir: path.join(stateDir, 'packs'), catalog });
  const events = new EventCounts();
  const clock = new SystemClock();
  const rows = new FileRows(catalog, VOLUME);
  const batch = new ChangeBatch({ outbox: new Outbox(catalog), store, volume: VOLUME, onAppended: () => {} });
  const reconciler = new Reconciler({ root, rows, batch, store, events, clock, volume: VOLUME });
  const filter = new GlobFilter([], []);
  const scanner = new Scanner({ root, rows, filter, reconciler, batch, events, clock, volume: VOLUME });

  const started = performance.now();
  const report = await scanner.scan(why);
  const ms = performance.now() - started;
  await store.close();
  catalog.close();
  const result: ScanChildResult = {
    ms,
    entries: report.entries,
    changed: report.changed,
    failed: report.failed,
    rssPeakBytes: vmHwm(),
    io: selfIo(),
    events: events.byType,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** specOf is the spec `volume add` would store: one mirror, so the outbox keeps what it appends. */
function specOf(root: string): VolumeSpec {
  return {
    name: VOLUME,
    kind: 'files',
    primary: { node: 'alpha', path: root },
    mirrors: [{ node: 'beta', path: '/nonexistent/beta', delayMs: 0, views: [] }],
    include: [],
    exclude: [],
    historyMs: DEFAULT_HISTORY_MS,
    guard: DEFAULT_GUARD,
    roles: DEFAULT_ROLES,
    createdAt: Date.now(),
  };
}

function vmHwm(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function selfIo(): Record<string, number> {
  const io: Record<string, number> = {};
  for (const m of readFileSync('/proc/self/io', 'utf8').matchAll(/^(\w+): (\d+)$/gm)) io[m[1]] = Number(m[2]);
  return io;
}

await main(process.argv.slice(2));
