import type { CaptureHealth, Outbox } from '../capture/index.ts';
import type { NodeLinks } from '../link/index.ts';
import { type AlarmInfo, type CheckResult, readinessOf } from '../monitor/index.ts';
import type { Quorum } from '../roles/index.ts';
import type { Catalog } from '../store/index.ts';
import { listViews, type MirrorViews, receivedPosition } from '../timeline/index.ts';
import type { VolumeRow, Volumes } from '../volumes/index.ts';
import type { BackupStatus, MirrorStatus, StatusReport, VolumeStatus } from './answers.ts';
import type { NodeApi } from './node-api.ts';

/** StatusSources are the stages whose own status makes up the node's. */
export interface StatusSources {
  node: string;
  startedAt: number;
  now: number;
  peerAddress: string;
  catalog: Catalog;
  volumes: Volumes;
  quorum: Quorum;
  outbox: Outbox;
  links: NodeLinks;
  views: MirrorViews;
  /** The capture's own account of a primary volume that runs here (undefined: not capturing). */
  captureHealth: (volume: string) => CaptureHealth | undefined;
  backups: Pick<NodeApi['backups'], 'tiers' | 'list' | 'lastDrill' | 'running'>;
  /** The latest check results and the open alarms. */
  monitor: { results(): CheckResult[]; open(): AlarmInfo[] };
}

/**
 * buildStatus assembles `GET /v1/status` from each stage's own account: the registry (role,
 * epoch, state), the quorum (failover), the outbox and the links (a primary's mirrors), the
 * timeline and the link from the primary (a mirror's position, views and funnel).
 */
export function buildStatus(src: StatusSources): StatusReport {
  const checks = src.monitor.results();
  const volumes = src.volumes
    .list()
    .map((v) => (v.role === 'primary' ? primaryStatus(src, v) : mirrorStatus(src, v)));
  return {
    node: src.node,
    startedAt: src.startedAt,
    now: src.now,
    peerAddress: src.peerAddress,
    volumes,
    peers: src.links.peers(),
    backups: backupStatus(src),
    checks,
    alarms: src.monitor.open(),
    readiness: readinessOf(
      checks,
      volumes.map((v) => v.name),
    ),
  };
}

function baseStatus(src: StatusSources, v: VolumeRow) {
  return {
    name: v.name,
    role: v.role,
    path: v.path,
    state: v.state,
    reason: v.reason,
    stopCause: v.stopCause,
    epoch: v.epoch,
    failover: src.quorum.status(v),
    since: src.volumes.epochs(v.name).at(-1) ?? null,
  };
}

/**
 * primaryStatus: a mirror is "in sync" only when it acknowledged everything captured and capture
 * vouches that it captured everything. While capture cannot (a scan after lost events, a
 * volume without a watch, paths not yet read), the lag counts from the moment it could last.
 */
function primaryStatus(src: StatusSources, v: VolumeRow): VolumeStatus {
  const capture = src.captureHealth(v.name);
  const isCertain = capture?.isCertain ?? v.state === 'stopped';
  const uncertainSince = capture?.uncertainSince ?? null;
  const mirrors = v.spec.mirrors.map((m): MirrorStatus => {
    const lag = src.outbox.mirrorLag(v.name, m.node);
    const link = src.links.mirrorLink(m.node);
    const stats = link?.volumeStats.get(v.name);
    const connected = Boolean(link?.connection && !link.connection.isClosed);
    const behindSince = Math.min(lag.oldestCapturedAt ?? src.now, uncertainSince ?? src.now);
    return {
      node: m.node,
      ackedSeq: lag.ackedSeq,
      lagChanges: lag.changes,
      lagSeconds: Math.max(0, (src.now - behindSince) / 1000),
      inSync: lag.changes === 0 && isCertain,
      link: stats?.state === 'refused' ? 'refused' : connected ? 'connected' : 'disconnected',
      refusal: stats?.refusal ?? null,
      bytesSent: stats?.bytesSent ?? 0,
    };
  });
  return { ...baseStatus(src, v), lastSeq: src.outbox.lastSeq(v.name), capture: capture ?? null, mirrors };
}

function mirrorStatus(src: StatusSources, v: VolumeRow): VolumeStatus {
  const receivedSeq = receivedPosition(src.catalog, v.name)?.seq ?? 0;
  const appliedSeq = listViews(src.catalog, v.name).find((r) => r.name === 'main')?.appliedSeq ?? 0;
  const received = src.links.receiveStats(v.name);
  const primarySeq = received?.primarySeq ?? null;
  return {
    ...baseStatus(src, v),
    from: v.spec.primary.node,
    receivedSeq,
    appliedSeq,
    link: src.links.isPrimaryConnected(v.name) ? 'connected' : 'disconnected',
    bytesReceived: received?.bytesReceived ?? 0,
    primarySeq,
    lagChanges: primarySeq === null ? null : Math.max(0, primarySeq - receivedSeq),
    ...src.views.status(v.name),
  };
}

/** backupStatus: the tiers, and per volume backed up here, the newest backup and drill. */
function backupStatus(src: StatusSources): BackupStatus {
  const all = src.backups.list();
  const volumes = [...new Set(all.map((b) => b.volume))].sort();
  return {
    tiers: src.backups.tiers(),
    running: src.backups.running(),
    volumes: volumes.map((volume) => ({
      volume,
      lastBackup: all.find((b) => b.volume === volume) ?? null,
      lastDrill: src.backups.lastDrill(volume) ?? null,
    })),
  };
}
