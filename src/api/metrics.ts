import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { type AlarmState, CHECK_EXIT } from '../monitor/index.ts';
import type { StatusReport, TierAnswer } from './answers.ts';

/**
 * The series of `GET /metrics` (docs/api.md lists them for administrators). Each one is read
 * off the status report at the moment of the scrape, so the numbers are the ones `status`
 * shows, never a second bookkeeping that could drift from it. The conventions are
 * Prometheus's: times in seconds, timestamps as seconds since the epoch, counts that only
 * grow as counters named `_total`, a state as a gauge whose value or label says which.
 */

/** Sample is one series of a metric: its labels and its value. */
type Sample = [labels: Record<string, string>, value: number];

/** SeriesSpec describes one metric and how its samples come out of the status report. */
interface SeriesSpec {
  name: string;
  help: string;
  /** counter: the status holds a running total that only grows while the agent runs. */
  kind: 'gauge' | 'counter';
  labels: readonly string[];
  samples: (status: StatusReport) => Sample[];
}

/** TIER_STATES lists every tier state, so `hindsight_tier_state` has a series for each (0 or 1). */
const TIER_STATES: Record<TierAnswer['state'], true> = {
  online: true,
  offline: true,
  behind: true,
  syncing: true,
  foreign: true,
};

/** ALARM_STATES lists the states an open alarm can be in, so each has a count, zero included. */
const ALARM_STATES: Record<AlarmState, true> = { warning: true, critical: true, unknown: true };

/** seconds turns the status's milliseconds (durations and timestamps) into seconds. */
const seconds = (ms: number): number => ms / 1000;

const primaries = (s: StatusReport) => s.volumes.filter((v) => v.role === 'primary');
const mirrored = (s: StatusReport) => s.volumes.filter((v) => v.role === 'mirror');
const capturing = (s: StatusReport) =>
  primaries(s).flatMap((v) => (v.capture ? [{ volume: v.name, capture: v.capture }] : []));
const perMirror = (s: StatusReport) =>
  primaries(s).flatMap((v) => (v.mirrors ?? []).map((m) => ({ volume: v.name, m })));

/** SERIES is every status-derived series, in the order of the exposition. */
const SERIES: readonly SeriesSpec[] = [
  {
    name: 'hindsight_volume_last_seq',
    help: 'Last captured sequence number (primary volumes).',
    kind: 'gauge',
    labels: ['volume'],
    samples: (s) => primaries(s).map((v) => [{ volume: v.name }, v.lastSeq ?? 0]),
  },
  {
    name: 'hindsight_volume_received_seq',
    help: 'Last durably received sequence number (mirrored volumes).',
    kind: 'gauge',
    labels: ['volume'],
    samples: (s) => mirrored(s).map((v) => [{ volume: v.name }, v.receivedSeq ?? 0]),
  },
  {
    name: 'hindsight_volume_applied_seq',
    help: 'Last applied sequence number of the main view (mirrored volumes).',
    kind: 'gauge',
    labels: ['volume'],
    samples: (s) => mirrored(s).map((v) => [{ volume: v.name }, v.appliedSeq ?? 0]),
  },
  {
    name: 'hindsight_volume_stopped',
    help: '1 when the volume is stopped, else 0.',
    kind: 'gauge',
    labels: ['volume', 'role'],
    samples: (s) => s.volumes.map((v) => [{ volume: v.name, role: v.role }, v.state === 'stopped' ? 1 : 0]),
  },
  {
    name: 'hindsight_capture_certain',
    help: '1 when capture vouches that every change is captured; 0 while it scans, polls or repairs lost events.',
    kind: 'gauge',
    labels: ['volume', 'state'],
    samples: (s) =>
      capturing(s).map(({ volume, capture }) => [
        { volume, state: capture.state },
        capture.isCertain ? 1 : 0,
      ]),
  },
  {
    name: 'hindsight_capture_pending_paths',
    help: 'Paths heard of but not captured yet.',
    kind: 'gauge',
    labels: ['volume'],
    samples: (s) => capturing(s).map(({ volume, capture }) => [{ volume }, capture.pendingPaths]),
  },
  {
    name: 'hindsight_capture_overflows_total',
    help: 'Kernel inotify queue overflows since the agent started (each one is followed by a full scan).',
    kind: 'counter',
    labels: ['volume'],
    samples: (s) => capturing(s).map(({ volume, capture }) => [{ volume }, capture.overflows]),
  },
  {
    name: 'hindsight_capture_watched_dirs',
    help: 'Directories capture watches.',
    kind: 'gauge',
    labels: ['volume'],
    samples: (s) => capturing(s).map(({ volume, capture }) => [{ volume }, capture.watchedDirs]),
  },
  {
    name: 'hindsight_mirror_lag_changes',
    help: 'Changes not yet acknowledged by the mirror.',
    kind: 'gauge',
    labels: ['volume', 'mirror'],
    samples: (s) => perMirror(s).map(({ volume, m }) => [{ volume, mirror: m.node }, m.lagChanges]),
  },
  {
    name: 'hindsight_mirror_lag_seconds',
    help: 'Age of the oldest unacknowledged change, or time since capture last vouched for the outbox; 0 in sync.',
    kind: 'gauge',
    labels: ['volume', 'mirror'],
    samples: (s) => perMirror(s).map(({ volume, m }) => [{ volume, mirror: m.node }, m.lagSeconds]),
  },
  {
    name: 'hindsight_mirror_in_sync',
    help: '1 when the mirror acknowledged every change and capture vouches that it has them all.',
    kind: 'gauge',
    labels: ['volume', 'mirror'],
    samples: (s) => perMirror(s).map(({ volume, m }) => [{ volume, mirror: m.node }, m.inSync ? 1 : 0]),
  },
  {
    name: 'hindsight_mirror_sent_bytes_total',
    help: 'Bytes sent to the mirror since the agent started.',
    kind: 'counter',
    labels: ['volume', 'mirror'],
    samples: (s) => perMirror(s).map(({ volume, m }) => [{ volume, mirror: m.node }, m.bytesSent]),
  },
  {
    name: 'hindsight_mirror_received_bytes_total',
    help: 'Bytes received from the primary since the agent started (mirrored volumes).',
    kind: 'counter',
    labels: ['volume', 'primary'],
    samples: (s) =>
      mirrored(s).flatMap((v): Sample[] =>
        v.bytesReceived === undefined ? [] : [[{ volume: v.name, primary: v.from ?? '' }, v.bytesReceived]],
      ),
  },
  {
    name: 'hindsight_peer_rtt_seconds',
    help: 'Round trip time of the peer link; absent until measured.',
    kind: 'gauge',
    labels: ['peer', 'direction'],
    samples: (s) =>
      s.peers.flatMap((p): Sample[] =>
        p.rttMs === null ? [] : [[{ peer: p.node, direction: p.direction }, seconds(p.rttMs)]],
      ),
  },
  {
    name: 'hindsight_peer_clock_offset_seconds',
    help: "The peer's clock minus this node's, as the link measured it; absent until measured.",
    kind: 'gauge',
    labels: ['peer', 'direction'],
    samples: (s) =>
      s.peers.flatMap((p): Sample[] =>
        p.clockOffsetMs === null
          ? []
          : [[{ peer: p.node, direction: p.direction }, seconds(p.clockOffsetMs)]],
      ),
  },
  {
    name: 'hindsight_check_state',
    help: "A check's latest verdict on a subject: 0 ok, 1 warning, 2 critical, 3 unknown (the plugin exit codes).",
    kind: 'gauge',
    labels: ['check', 'subject', 'volume'],
    samples: (s) =>
      s.checks.map((c) => [
        { check: c.check, subject: c.subject, volume: c.volume ?? '' },
        CHECK_EXIT[c.state],
      ]),
  },
  {
    name: 'hindsight_check_value',
    help: "The value a check measured, in the check's unit (docs/monitoring.md); absent when it measures none.",
    kind: 'gauge',
    labels: ['check', 'subject', 'volume'],
    samples: (s) =>
      s.checks.flatMap((c): Sample[] =>
        c.value === null ? [] : [[{ check: c.check, subject: c.subject, volume: c.volume ?? '' }, c.value]],
      ),
  },
  {
    name: 'hindsight_alarms_open',
    help: 'Alarms open now, by state.',
    kind: 'gauge',
    labels: ['state'],
    samples: (s) =>
      (Object.keys(ALARM_STATES) as AlarmState[]).map((state) => [
        { state },
        s.alarms.filter((a) => a.state === state && a.closedAt === null).length,
      ]),
  },
  {
    name: 'hindsight_readiness_score',
    help: 'DR-readiness score, 0-100: without a volume label the node, with one that volume.',
    kind: 'gauge',
    labels: ['volume'],
    samples: (s) => [
      [{}, s.readiness.score],
      ...s.readiness.volumes.map((v): Sample => [{ volume: v.volume }, v.score]),
    ],
  },
  {
    name: 'hindsight_readiness_component',
    help: 'Score, 0-100, of one part of the DR-readiness score: without a volume label the node, with one that volume.',
    kind: 'gauge',
    labels: ['volume', 'component'],
    samples: (s) => [
      ...s.readiness.components.map((c): Sample => [{ component: c.name }, c.score]),
      ...s.readiness.volumes.flatMap((v) =>
        v.components.map((c): Sample => [{ volume: v.volume, component: c.name }, c.score]),
      ),
    ],
  },
  {
    name: 'hindsight_tier_up',
    help: '1 when the backup tier is online and in step with the others, else 0.',
    kind: 'gauge',
    labels: ['tier'],
    samples: (s) => s.backups.tiers.map((t) => [{ tier: t.name }, t.state === 'online' ? 1 : 0]),
  },
  {
    name: 'hindsight_tier_state',
    help: "1 for the backup tier's state, 0 for the others.",
    kind: 'gauge',
    labels: ['tier', 'state'],
    samples: (s) =>
      s.backups.tiers.flatMap((t) =>
        (Object.keys(TIER_STATES) as TierAnswer['state'][]).map(
          (state): Sample => [{ tier: t.name, state }, t.state === state ? 1 : 0],
        ),
      ),
  },
  {
    name: 'hindsight_tier_bytes',
    help: 'Bytes the backup repository holds on the tier.',
    kind: 'gauge',
    labels: ['tier'],
    samples: (s) => s.backups.tiers.map((t) => [{ tier: t.name }, t.bytes]),
  },
  {
    name: 'hindsight_tier_last_success_timestamp_seconds',
    help: 'When the tier last took a write or a check without error; absent until it has.',
    kind: 'gauge',
    labels: ['tier'],
    samples: (s) =>
      s.backups.tiers.flatMap((t): Sample[] =>
        t.lastSuccessAt === null ? [] : [[{ tier: t.name }, seconds(t.lastSuccessAt)]],
      ),
  },
  {
    name: 'hindsight_backup_last_success_timestamp_seconds',
    help: 'When the last successful backup of the volume was taken; absent before the first.',
    kind: 'gauge',
    labels: ['volume'],
    samples: (s) =>
      s.backups.volumes.flatMap((v): Sample[] =>
        v.lastBackup === null ? [] : [[{ volume: v.volume }, seconds(v.lastBackup.takenAt)]],
      ),
  },
  {
    name: 'hindsight_backup_last_moment_timestamp_seconds',
    help: 'The moment of the timeline the last successful backup of the volume holds; absent before the first.',
    kind: 'gauge',
    labels: ['volume'],
    samples: (s) =>
      s.backups.volumes.flatMap((v): Sample[] =>
        v.lastBackup === null ? [] : [[{ volume: v.volume }, seconds(v.lastBackup.at)]],
      ),
  },
  {
    name: 'hindsight_backup_running',
    help: '1 while a backup of the volume runs, else 0.',
    kind: 'gauge',
    labels: ['volume'],
    samples: (s) => {
      const running = new Set(s.backups.running.map((r) => r.volume));
      const volumes = new Set([...s.backups.volumes.map((v) => v.volume), ...running]);
      return [...volumes].map((volume) => [{ volume }, running.has(volume) ? 1 : 0]);
    },
  },
  {
    name: 'hindsight_drill_last_timestamp_seconds',
    help: 'When the last restore drill of the volume ran; absent before the first.',
    kind: 'gauge',
    labels: ['volume'],
    samples: (s) =>
      s.backups.volumes.flatMap((v): Sample[] =>
        v.lastDrill === null ? [] : [[{ volume: v.volume }, seconds(v.lastDrill.at)]],
      ),
  },
  {
    name: 'hindsight_drill_last_duration_seconds',
    help: 'How long the last restore drill of the volume took: the measured recovery time.',
    kind: 'gauge',
    labels: ['volume'],
    samples: (s) =>
      s.backups.volumes.flatMap((v): Sample[] =>
        v.lastDrill === null ? [] : [[{ volume: v.volume }, seconds(v.lastDrill.ms)]],
      ),
  },
  {
    name: 'hindsight_drill_last_problems',
    help: 'Problems the last restore drill of the volume found (0 when it restored everything intact).',
    kind: 'gauge',
    labels: ['volume'],
    samples: (s) =>
      s.backups.volumes.flatMap((v): Sample[] =>
        v.lastDrill === null ? [] : [[{ volume: v.volume }, v.lastDrill.problems]],
      ),
  },
];

/** BoundSeries is a SeriesSpec with its prom-client metric, registered in one registry. */
type BoundSeries =
  | { spec: SeriesSpec; kind: 'gauge'; metric: Gauge }
  | { spec: SeriesSpec; kind: 'counter'; metric: Counter };

/**
 * Metrics is the `/metrics` exposition of one agent: the series above plus the process's own
 * (CPU, memory, file descriptors, event loop lag, garbage collection), all named `hindsight_…`.
 * Each instance has its own registry, never prom-client's global one, so two agents in one
 * process (the tests, the demo) do not share or collide on series.
 */
export class Metrics {
  /** contentType is the exposition format's content type (text format 0.0.4). */
  readonly contentType: string;
  readonly #registry = new Registry();
  readonly #series: BoundSeries[];
  /** The scrape under way: the next waits for it (see render). */
  #rendering: Promise<unknown> = Promise.resolve();

  constructor() {
    const registers = [this.#registry];
    this.#series = SERIES.map((spec): BoundSeries => {
      const config = { name: spec.name, help: spec.help, labelNames: spec.labels, registers };
      return spec.kind === 'gauge'
        ? { spec, kind: 'gauge', metric: new Gauge(config) }
        : { spec, kind: 'counter', metric: new Counter(config) };
    });
    collectDefaultMetrics({ register: this.#registry, prefix: 'hindsight_' });
    this.contentType = this.#registry.contentType;
  }

  /**
   * render sets every series from the status and returns the text exposition. Scrapes take
   * turns: prom-client's reading of a metric is asynchronous, and a second scrape that set its
   * values in between would hand the first a mix of two moments. (prom-client 15 happens to
   * copy a metric without a collect callback before its first await; that is not its
   * contract, so this does not lean on it.)
   */
  render(status: StatusReport): Promise<string> {
    const scrape = this.#rendering.then(() => {
      this.#update(status);
      return this.#registry.metrics();
    });
    this.#rendering = scrape.catch(() => undefined);
    return scrape;
  }

  /** #update replaces every series with the status's; a volume, mirror or check gone since is dropped. */
  #update(status: StatusReport): void {
    for (const bound of this.#series) {
      bound.metric.reset();
      for (const [labels, value] of bound.spec.samples(status)) {
        // A counter here mirrors a running total the agent keeps, not events counted by this
        // class; prom-client's Counter has no set(), by design, so the total is written as
        // reset() + inc(total). That keeps the TYPE `counter` (rate() and reset detection work
        // when the agent restarts) without a hand-written collector that would have to pass
        // as one of prom-client's metric classes.
        if (bound.kind === 'counter') bound.metric.inc(labels, value);
        else bound.metric.set(labels, value);
      }
    }
  }
}

/**
 * metricsRoute returns the handler of `GET /metrics` for one route table: it builds the
 * table's Metrics on the first scrape, so listing the routes (or never scraping) costs
 * nothing and starts no process-metric observers.
 */
export function metricsRoute(status: () => StatusReport): () => Promise<string> {
  let metrics: Metrics | null = null;
  return () => {
    metrics ??= new Metrics();
    return metrics.render(status());
  };
}
