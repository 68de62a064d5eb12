/** `/metrics` as Prometheus reads it: the exposition is parsed, never compared as a whole. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metrics, type StatusReport } from '../../../src/api/index.ts';

/** Sample is one line of the exposition. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Exposition is the parsed text: HELP and TYPE per metric name, and every sample. */
interface Exposition {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: Sample[];
}

/** parse reads the text format 0.0.4, label values unescaped. */
function parse(text: string): Exposition {
  const out: Exposition = { help: new Map(), type: new Map(), samples: [] };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      out[meta[1] === 'HELP' ? 'help' : 'type'].set(meta[2]!, meta[3]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    out.samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** value returns the one sample of `name` whose labels are exactly `labels`. */
function value(e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = e.samples.filter(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} appears ${found.length} times`);
  return found[0]?.value;
}

const HOUR = 3_600_000;

function report(): StatusReport {
  return {
    node: 'alpha',
    startedAt: 0,
    now: 10 * HOUR,
    peerAddress: '192.0.2.1:7420',
    volumes: [
      {
        name: 'mail',
        role: 'primary',
        path: '/srv/mail',
        state: 'active',
        reason: null,
        stopCause: null,
        epoch: 1,
        failover: { mode: 'manual', witness: null },
        since: null,
        lastSeq: 40,
        capture: {
          state: 'scanning',
          why: 'overflow',
          isCertain: false,
          uncertainSince: 0,
          pendingPaths: 12,
          overflows: 3,
          watchedDirs: 310,
        },
        mirrors: [
          {
            node: 'beta',
            ackedSeq: 38,
            lagChanges: 2,
            lagSeconds: 12.25,
            inSync: false,
            link: 'connected',
            refusal: null,
            bytesSent: 1536,
          },
        ],
      },
      {
        name: 'docs',
        role: 'mirror',
        path: '/srv/docs',
        state: 'stopped',
        reason: 'stopped by hand',
        stopCause: 'operator',
        epoch: 2,
        failover: { mode: 'auto', witness: 'w', primarySilentMs: 1200 },
        since: null,
        from: 'gamma',
        receivedSeq: 120,
        appliedSeq: 118,
        link: 'connected',
        bytesReceived: 5_242_880,
      },
    ],
    peers: [
      { node: 'beta', direction: 'to-mirror', link: 'connected', rttMs: 4.5, clockOffsetMs: -250 },
      { node: 'gamma', direction: 'from-primary', link: 'disconnected', rttMs: null, clockOffsetMs: null },
    ],
    backups: {
      tiers: [
        {
          name: 'usb',
          position: 0,
          url: 'file:///mnt/usb',
          state: 'online',
          revision: 7,
          bytes: 9000,
          lastSuccessAt: 9 * HOUR,
          lastError: null,
          lastErrorAt: null,
        },
        {
          name: 'offsite',
          position: 1,
          url: 'sftp://backup@example.org/h',
          state: 'behind',
          revision: 6,
          bytes: 8000,
          lastSuccessAt: null,
          lastError: 'connection refused',
          lastErrorAt: 9 * HOUR,
        },
      ],
      running: [{ volume: 'docs', entries: 10, total: 100, newBytes: 0, startedAt: 10 * HOUR }],
      volumes: [
        {
          volume: 'docs',
          lastBackup: {
            volume: 'docs',
            id: 'b1',
            seq: 100,
            at: 8 * HOUR,
            takenAt: 9 * HOUR,
            files: 10,
            bytes: 100,
            newBytes: 10,
            tiers: ['usb'],
          },
          lastDrill: { at: 7 * HOUR, ms: 2500, files: 10, bytes: 100, problems: 0 },
        },
        { volume: 'photos', lastBackup: null, lastDrill: null },
      ],
    },
    checks: [
      {
        check: 'disk-free',
        subject: '/srv/"mail"\\x',
        volume: 'mail',
        state: 'critical',
        since: 0,
        message: '4% free, below 5%',
        value: 4,
        threshold: 'warn 15%, crit 5%',
        ranAt: 10 * HOUR,
      },
      {
        check: 'witness',
        subject: 'node',
        volume: null,
        state: 'unknown',
        since: 0,
        message: 'no witness configured',
        value: null,
        threshold: null,
        ranAt: 10 * HOUR,
      },
      {
        check: 'mirror-lag',
        subject: 'mail → beta',
        volume: 'mail',
        state: 'ok',
        since: 0,
        message: '12 s',
        value: 12.25,
        threshold: 'warn 60 s, crit 300 s',
        ranAt: 10 * HOUR,
      },
    ],
    alarms: [
      {
        id: 1,
        node: 'alpha',
        check: 'disk-free',
        subject: '/srv/mail',
        state: 'critical',
        message: '4% free',
        openedAt: 0,
        updatedAt: 0,
        closedAt: null,
        ackedAt: null,
        ackedBy: null,
        volume: 'mail',
      },
    ],
    readiness: {
      score: 62,
      components: [{ name: 'witness', score: 50, weight: 1, detail: 'no witness' }],
      volumes: [
        {
          volume: 'mail',
          score: 62,
          components: [
            { name: 'lag', score: 90, weight: 0.5, detail: '12 s behind' },
            { name: 'disk', score: 34, weight: 0.5, detail: '4% free' },
          ],
        },
      ],
    },
  };
}

describe('metrics', () => {
  it('writes HELP and TYPE for every series and names by the conventions', async () => {
    const metrics = new Metrics();
    const e = parse(await metrics.render(report()));
    assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
    for (const name of e.type.keys()) {
      assert.ok(name.startsWith('hindsight_'), name);
      assert.ok(e.help.get(name), `${name} has no HELP`);
      assert.doesNotMatch(name, /_ms$|_millis/, `${name}: times are in seconds`);
      if (e.type.get(name) === 'counter') assert.match(name, /_total$/, `${name}: counters end in _total`);
    }
    for (const s of e.samples) {
      const family = [s.name, s.name.replace(/_(bucket|sum|count)$/, '')].find((n) => e.type.has(n));
      assert.ok(family, `${s.name} has no TYPE`);
    }
    for (const gone of [
      'hindsight_peer_rtt_ms',
      'hindsight_mirror_bytes_sent',
      'hindsight_capture_overflows',
    ]) {
      assert.equal(e.type.has(gone), false, gone);
    }
  });

  it('includes the process metrics', async () => {
    const e = parse(await new Metrics().render(report()));
    assert.equal(e.type.get('hindsight_process_cpu_seconds_total'), 'counter');
    assert.equal(e.type.get('hindsight_process_resident_memory_bytes'), 'gauge');
    assert.equal(e.type.get('hindsight_process_open_fds'), 'gauge');
    assert.equal(e.type.get('hindsight_nodejs_eventloop_lag_seconds'), 'gauge');
    assert.ok((value(e, 'hindsight_process_resident_memory_bytes') ?? 0) > 0);
  });

  it('keeps the volume, capture, mirror and peer series, in seconds and as counters', async () => {
    const e = parse(await new Metrics().render(report()));
    assert.equal(value(e, 'hindsight_volume_last_seq', { volume: 'mail' }), 40);
    assert.equal(value(e, 'hindsight_volume_received_seq', { volume: 'docs' }), 120);
    assert.equal(value(e, 'hindsight_volume_applied_seq', { volume: 'docs' }), 118);
    assert.equal(value(e, 'hindsight_volume_stopped', { volume: 'docs', role: 'mirror' }), 1);
    assert.equal(value(e, 'hindsight_volume_stopped', { volume: 'mail', role: 'primary' }), 0);
    assert.equal(value(e, 'hindsight_capture_certain', { volume: 'mail', state: 'scanning' }), 0);
    assert.equal(value(e, 'hindsight_capture_pending_paths', { volume: 'mail' }), 12);
    assert.equal(value(e, 'hindsight_capture_watched_dirs', { volume: 'mail' }), 310);
    assert.equal(e.type.get('hindsight_capture_overflows_total'), 'counter');
    assert.equal(value(e, 'hindsight_capture_overflows_total', { volume: 'mail' }), 3);
    const toBeta = { volume: 'mail', mirror: 'beta' };
    assert.equal(value(e, 'hindsight_mirror_lag_changes', toBeta), 2);
    assert.equal(value(e, 'hindsight_mirror_lag_seconds', toBeta), 12.25);
    assert.equal(value(e, 'hindsight_mirror_in_sync', toBeta), 0);
    assert.equal(e.type.get('hindsight_mirror_sent_bytes_total'), 'counter');
    assert.equal(value(e, 'hindsight_mirror_sent_bytes_total', toBeta), 1536);
    assert.equal(e.type.get('hindsight_mirror_received_bytes_total'), 'counter');
    assert.equal(
      value(e, 'hindsight_mirror_received_bytes_total', { volume: 'docs', primary: 'gamma' }),
      5_242_880,
    );
    const beta = { peer: 'beta', direction: 'to-mirror' };
    assert.equal(value(e, 'hindsight_peer_rtt_seconds', beta), 0.0045);
    assert.equal(value(e, 'hindsight_peer_clock_offset_seconds', beta), -0.25);
    assert.equal(
      value(e, 'hindsight_peer_rtt_seconds', { peer: 'gamma', direction: 'from-primary' }),
      undefined,
    );
  });

  it('has a state per check, its value where it measures one, and open alarms by state', async () => {
    const e = parse(await new Metrics().render(report()));
    // The subject comes back exactly: prom-client escapes, nothing is replaced.
    const disk = { check: 'disk-free', subject: '/srv/"mail"\\x', volume: 'mail' };
    assert.equal(value(e, 'hindsight_check_state', disk), 2);
    assert.equal(value(e, 'hindsight_check_value', disk), 4);
    const witness = { check: 'witness', subject: 'node', volume: '' };
    assert.equal(value(e, 'hindsight_check_state', witness), 3);
    assert.equal(value(e, 'hindsight_check_value', witness), undefined);
    assert.equal(
      value(e, 'hindsight_check_state', { check: 'mirror-lag', subject: 'mail → beta', volume: 'mail' }),
      0,
    );
    assert.equal(value(e, 'hindsight_alarms_open', { state: 'critical' }), 1);
    assert.equal(value(e, 'hindsight_alarms_open', { state: 'warning' }), 0);
    assert.equal(value(e, 'hindsight_alarms_open', { state: 'unknown' }), 0);
  });

  it('has the readiness score of the node, each volume and each part', async () => {
    const e = parse(await new Metrics().render(report()));
    assert.equal(value(e, 'hindsight_readiness_score'), 62);
    assert.equal(value(e, 'hindsight_readiness_score', { volume: 'mail' }), 62);
    assert.equal(value(e, 'hindsight_readiness_component', { component: 'witness' }), 50);
    assert.equal(value(e, 'hindsight_readiness_component', { volume: 'mail', component: 'lag' }), 90);
    assert.equal(value(e, 'hindsight_readiness_component', { volume: 'mail', component: 'disk' }), 34);
  });

  it('has tiers, backups and drills with timestamps in seconds', async () => {
    const e = parse(await new Metrics().render(report()));
    assert.equal(value(e, 'hindsight_tier_up', { tier: 'usb' }), 1);
    assert.equal(value(e, 'hindsight_tier_up', { tier: 'offsite' }), 0);
    assert.equal(value(e, 'hindsight_tier_state', { tier: 'offsite', state: 'behind' }), 1);
    assert.equal(value(e, 'hindsight_tier_state', { tier: 'offsite', state: 'online' }), 0);
    assert.equal(e.samples.filter((s) => s.name === 'hindsight_tier_state').length, 10);
    assert.equal(value(e, 'hindsight_tier_bytes', { tier: 'usb' }), 9000);
    assert.equal(value(e, 'hindsight_tier_last_success_timestamp_seconds', { tier: 'usb' }), 9 * 3600);
    assert.equal(value(e, 'hindsight_tier_last_success_timestamp_seconds', { tier: 'offsite' }), undefined);
    assert.equal(value(e, 'hindsight_backup_last_success_timestamp_seconds', { volume: 'docs' }), 9 * 3600);
    assert.equal(value(e, 'hindsight_backup_last_moment_timestamp_seconds', { volume: 'docs' }), 8 * 3600);
    assert.equal(
      value(e, 'hindsight_backup_last_success_timestamp_seconds', { volume: 'photos' }),
      undefined,
    );
    assert.equal(value(e, 'hindsight_backup_running', { volume: 'docs' }), 1);
    assert.equal(value(e, 'hindsight_backup_running', { volume: 'photos' }), 0);
    assert.equal(value(e, 'hindsight_drill_last_timestamp_seconds', { volume: 'docs' }), 7 * 3600);
    assert.equal(value(e, 'hindsight_drill_last_duration_seconds', { volume: 'docs' }), 2.5);
    assert.equal(value(e, 'hindsight_drill_last_problems', { volume: 'docs' }), 0);
  });

  it('follows the status from scrape to scrape: counters take the new total, gone series go', async () => {
    const metrics = new Metrics();
    await metrics.render(report());
    const next = report();
    next.volumes[0]!.mirrors![0]!.bytesSent = 4096;
    next.checks = next.checks.filter((c) => c.check !== 'disk-free');
    const e = parse(await metrics.render(next));
    assert.equal(value(e, 'hindsight_mirror_sent_bytes_total', { volume: 'mail', mirror: 'beta' }), 4096);
    assert.equal(e.samples.filter((s) => s.labels.check === 'disk-free').length, 0);
  });

  it('renders concurrent scrapes each from its own status', async () => {
    const metrics = new Metrics();
    const statuses = [1, 2, 3].map((n) => {
      const r = report();
      r.volumes[0]!.lastSeq = n;
      return r;
    });
    const texts = await Promise.all(statuses.map((s) => metrics.render(s)));
    texts.forEach((text, i) => {
      assert.equal(value(parse(text), 'hindsight_volume_last_seq', { volume: 'mail' }), i + 1);
    });
  });
});
