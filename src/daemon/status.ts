import { type EpochRow, readEpochs } from '../timeline/index.ts';
import type { Agent } from './agent.ts';
import type { ViewStatus } from './mirror-views.ts';

/** MirrorStatus is one mirror of a primary volume, as the primary sees it. */
export interface MirrorStatus {
  node: string;
  ackedSeq: number;
  lagChanges: number;
  lagSeconds: number;
  link: 'connected' | 'disconnected' | 'refused';
  refusal: string | null;
  bytesSent: number;
}

/** VolumeStatus is one volume of this node. */
export interface VolumeStatus {
  name: string;
  role: 'primary' | 'mirror';
  path: string;
  state: 'active' | 'stopped';
  reason: string | null;
  epoch: number;
  /** How failover works for the volume here: the mode, the witness, the lease or the primary's silence. */
  failover: ReturnType<Agent['quorum']['status']>;
  /** The latest role change: the current epoch, since when, by which node and why. */
  since: EpochRow | null;
  lastSeq?: number;
  mirrors?: MirrorStatus[];
  from?: string;
  receivedSeq?: number;
  appliedSeq?: number;
  link?: 'connected' | 'disconnected';
  bytesReceived?: number;
  /** The primary's last seq as last heard (mirror side), and how far this mirror is behind it. */
  primarySeq?: number | null;
  lagChanges?: number | null;
  /** Mirror side: every view with its funnel, the history window and its oldest kept moment. */
  views?: ViewStatus[];
  historyMs?: number;
  oldestAt?: number | null;
}

/** PeerStatus is one live peer link with its measurements. */
export interface PeerStatus {
  node: string;
  direction: 'to-mirror' | 'from-primary';
  link: 'connected' | 'disconnected';
  rttMs: number | null;
  clockOffsetMs: number | null;
}

/** StatusReport is the answer of `GET /v1/status` and `hindsight status --json`. */
export interface StatusReport {
  node: string;
  startedAt: number;
  now: number;
  peerAddress: string;
  volumes: VolumeStatus[];
  peers: PeerStatus[];
}

/** buildStatus collects the status of every volume, link and peer of an agent. */
export function buildStatus(agent: Agent): StatusReport {
  const { catalog, clock } = agent;
  const now = clock.now();
  const volumes: VolumeStatus[] = [];
  for (const v of agent.volumes.list()) {
    const base = {
      name: v.name,
      role: v.role,
      path: v.path,
      state: v.state,
      reason: v.reason,
      epoch: v.epoch,
      failover: agent.quorum.status(v),
      since: readEpochs(catalog, v.name).at(-1) ?? null,
    };
    if (v.role === 'primary') {
      const lastSeq = agent.outbox.lastSeq(v.name);
      const mirrors = v.spec.mirrors.map((m): MirrorStatus => {
        const ack = catalog
          .prepare('SELECT seq FROM acks WHERE volume = ? AND mirror = ?')
          .get(v.name, m.node) as { seq: number } | undefined;
        const ackedSeq = ack?.seq ?? 0;
        const pending = catalog
          .prepare(
            'SELECT COUNT(*) AS n, MIN(captured_at) AS oldest FROM changes WHERE volume = ? AND seq > ?',
          )
          .get(v.name, ackedSeq) as { n: number; oldest: number | null };
        const link = agent.links.get(m.node);
        const stats = link?.volumeStats.get(v.name);
        const connected = Boolean(link?.connection && !link.connection.isClosed);
        return {
          node: m.node,
          ackedSeq,
          lagChanges: pending.n,
          lagSeconds: pending.oldest === null ? 0 : Math.max(0, (now - pending.oldest) / 1000),
          link: stats?.state === 'refused' ? 'refused' : connected ? 'connected' : 'disconnected',
          refusal: stats?.refusal ?? null,
          bytesSent: stats?.bytesSent ?? 0,
        };
      });
      volumes.push({ ...base, lastSeq, mirrors });
    } else {
      const received = catalog.prepare('SELECT seq, from_node FROM received WHERE volume = ?').get(v.name) as
        | { seq: number; from_node: string }
        | undefined;
      const view = catalog
        .prepare("SELECT applied_seq FROM views WHERE volume = ? AND name = 'main'")
        .get(v.name) as { applied_seq: number } | undefined;
      const conn = agent.sessionConnection(v.spec.primary.node);
      const primarySeq = agent.receiveStats.get(v.name)?.primarySeq ?? null;
      volumes.push({
        ...base,
        from: v.spec.primary.node,
        receivedSeq: received?.seq ?? 0,
        appliedSeq: view?.applied_seq ?? 0,
        link: conn && !conn.isClosed ? 'connected' : 'disconnected',
        bytesReceived: agent.receiveStats.get(v.name)?.bytesReceived ?? 0,
        primarySeq,
        lagChanges: primarySeq === null ? null : Math.max(0, primarySeq - (received?.seq ?? 0)),
        ...agent.mirrorViews.status(v.name),
      });
    }
  }
  const peers: PeerStatus[] = [];
  for (const [node, link] of agent.links) {
    const c = link.connection;
    peers.push({
      node,
      direction: 'to-mirror',
      link: c && !c.isClosed ? 'connected' : 'disconnected',
      rttMs: c?.stats.rttMs ?? null,
      clockOffsetMs: c?.stats.clockOffsetMs ?? null,
    });
  }
  for (const node of agent.sessions.keys()) {
    const c = agent.sessionConnection(node);
    peers.push({
      node,
      direction: 'from-primary',
      link: c && !c.isClosed ? 'connected' : 'disconnected',
      rttMs: c?.stats.rttMs ?? null,
      clockOffsetMs: c?.stats.clockOffsetMs ?? null,
    });
  }
  return {
    node: agent.config.name,
    startedAt: agent.startedAt,
    now,
    peerAddress: agent.peerAddress(),
    volumes,
    peers,
  };
}
