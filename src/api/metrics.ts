import type { StatusReport } from './answers.ts';

/** metricsText renders the status as Prometheus text exposition (docs/api.md lists the series). */
export function metricsText(status: StatusReport): string {
  const lines: string[] = [];
  const gauge = (name: string, help: string, samples: [Record<string, string>, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, value] of samples) {
      const l = Object.entries(labels)
        .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
        .join(',');
      lines.push(`${name}{${l}} ${value}`);
    }
  };
  const primaries = status.volumes.filter((v) => v.role === 'primary');
  const mirrors = status.volumes.filter((v) => v.role === 'mirror');
  gauge(
    'hindsight_volume_last_seq',
    'Last captured sequence number (primary).',
    primaries.map((v) => [{ volume: v.name }, v.lastSeq ?? 0]),
  );
  const capturing = primaries.filter((v) => v.capture);
  gauge(
    'hindsight_capture_certain',
    '1 when capture vouches that every change is captured; 0 while it scans, polls or repairs lost events.',
    capturing.map((v) => [{ volume: v.name, state: v.capture!.state }, v.capture!.isCertain ? 1 : 0]),
  );
  gauge(
    'hindsight_capture_pending_paths',
    'Paths heard of but not captured yet.',
    capturing.map((v) => [{ volume: v.name }, v.capture!.pendingPaths]),
  );
  gauge(
    'hindsight_capture_overflows',
    'Kernel inotify queue overflows since the agent started (each one triggers a rescan).',
    capturing.map((v) => [{ volume: v.name }, v.capture!.overflows]),
  );
  gauge(
    'hindsight_capture_watched_dirs',
    'Directories capture watches.',
    capturing.map((v) => [{ volume: v.name }, v.capture!.watchedDirs]),
  );
  const perMirror = primaries.flatMap((v) => (v.mirrors ?? []).map((m) => ({ v, m })));
  gauge(
    'hindsight_mirror_lag_changes',
    'Changes not yet acknowledged by the mirror.',
    perMirror.map(({ v, m }) => [{ volume: v.name, mirror: m.node }, m.lagChanges]),
  );
  gauge(
    'hindsight_mirror_lag_seconds',
    'Age of the oldest unacknowledged change.',
    perMirror.map(({ v, m }) => [{ volume: v.name, mirror: m.node }, m.lagSeconds]),
  );
  gauge(
    'hindsight_mirror_in_sync',
    '1 when the mirror acknowledged every change and capture vouches that it has them all.',
    perMirror.map(({ v, m }) => [{ volume: v.name, mirror: m.node }, m.inSync ? 1 : 0]),
  );
  gauge(
    'hindsight_mirror_bytes_sent',
    'Bytes sent to the mirror since the agent started.',
    perMirror.map(({ v, m }) => [{ volume: v.name, mirror: m.node }, m.bytesSent]),
  );
  gauge(
    'hindsight_volume_received_seq',
    'Last durably received sequence number (mirror).',
    mirrors.map((v) => [{ volume: v.name }, v.receivedSeq ?? 0]),
  );
  gauge(
    'hindsight_volume_applied_seq',
    'Last applied sequence number of the main view (mirror).',
    mirrors.map((v) => [{ volume: v.name }, v.appliedSeq ?? 0]),
  );
  gauge(
    'hindsight_volume_stopped',
    '1 when the volume is stopped.',
    status.volumes.map((v) => [{ volume: v.name, role: v.role }, v.state === 'stopped' ? 1 : 0]),
  );
  gauge(
    'hindsight_peer_rtt_ms',
    'Round trip time of the peer link.',
    status.peers
      .filter((p) => p.rttMs !== null)
      .map((p) => [{ peer: p.node, direction: p.direction }, p.rttMs!]),
  );
  return `${lines.join('\n')}\n`;
}
