import type {
  EpochRow,
  HEvent,
  Role,
  RolesInput,
  StopCause,
  VolumeInput,
  VolumeSpec,
} from '../core/index.ts';
import type { AlarmInfo, CheckResult, NodeReadiness } from '../monitor/index.ts';

/**
 * The answers of the HTTP API (docs/api.md), as JSON: the one contract between the agent and
 * its clients — the CLI, the dashboard, scripts and the tests. They are written out here, not
 * borrowed from the stages, so a client never imports a stage; the routes are type-checked
 * against them, so a stage that changes its shape breaks the build, not a client.
 */

export type { RolesInput, VolumeInput };

/** FailoverStatus: how failover works for a volume here — the mode, the witness, the lease or the primary's silence. */
export interface FailoverStatus {
  mode: 'manual' | 'auto';
  witness: string | null;
  /** Primary side: how long its lease still holds (ms). */
  leaseMs?: number;
  /** Primary side: how long since the witness last answered (ms; null: it never has since the start). */
  witnessSilentMs?: number | null;
  /** Mirror side: how long the primary has been silent (ms). */
  primarySilentMs?: number;
}

/**
 * CaptureStatus is capture's own account of a primary volume (capture's CaptureHealth): whether
 * it can vouch that every change below the root is captured, and if not, why.
 */
export interface CaptureStatus {
  /** watching: every change is heard; scanning: a full scan runs (`why`); polling: no watch, scans on a timer (`why`). */
  state: 'watching' | 'scanning' | 'polling' | 'stopped';
  why: string | null;
  isCertain: boolean;
  uncertainSince: number | null;
  pendingPaths: number;
  overflows: number;
  watchedDirs: number;
}

/** MirrorStatus is one mirror of a primary volume, as the primary sees it. */
export interface MirrorStatus {
  node: string;
  ackedSeq: number;
  lagChanges: number;
  /** Seconds since the mirror last had everything: the oldest unacknowledged change, or since capture could last vouch for the outbox. */
  lagSeconds: number;
  /** Nothing unacknowledged, and capture vouches that it has every change (CaptureHealth.isCertain). */
  inSync: boolean;
  link: 'connected' | 'disconnected' | 'refused';
  refusal: string | null;
  bytesSent: number;
}

/** FunnelStatus is what waits in a view's funnel. */
export interface FunnelStatus {
  changes: number;
  bytes: number;
  oldestReceivedAt: number | null;
  nextDueAt: number | null;
}

/** ViewStatus is one view with its funnel, as status shows it. */
export interface ViewStatus {
  name: string;
  root: string;
  delayMs: number;
  appliedSeq: number;
  /** Production time of the last applied change: the moment the view shows. */
  appliedAt: number | null;
  held: boolean;
  holdReason: string | null;
  heldSince: number | null;
  /** A rewind is moving the view (or was interrupted and is finished at start). */
  moving: boolean;
  /** Why the view does not move: its batches fail (a full disk) since `since`; null when it moves. */
  error: { since: number; message: string; stopped: boolean } | null;
  funnel: FunnelStatus;
}

/** VolumeStatus is one volume of this node. */
export interface VolumeStatus {
  name: string;
  role: Role;
  path: string;
  state: 'active' | 'stopped';
  reason: string | null;
  /** Why it is stopped, for scripts (null while active). */
  stopCause: StopCause | null;
  epoch: number;
  failover: FailoverStatus;
  /** The latest role change: the current epoch, since when, by which node and why. */
  since: EpochRow | null;
  lastSeq?: number;
  /** Primary side: how complete capture is (null: not capturing here, say while stopped). */
  capture?: CaptureStatus | null;
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
  /** This node's backup tiers, and per volume backed up here its last backup and drill. */
  backups: BackupStatus;
  /** The latest result of every check, worst first. */
  checks: CheckResult[];
  /** Alarms open now, newest first. */
  alarms: AlarmInfo[];
  /** The DR-readiness score of the node and of each volume, with its parts. */
  readiness: NodeReadiness;
}

/** BackupStatus is the backup side of a node's status. */
export interface BackupStatus {
  tiers: TierAnswer[];
  /** Backups under way: entries of the tree done of `total`, bytes new to the repository. */
  running: { volume: string; entries: number; total: number; newBytes: number; startedAt: number }[];
  volumes: {
    volume: string;
    lastBackup: BackupAnswer | null;
    lastDrill: { at: number; ms: number; files: number; bytes: number; problems: number } | null;
  }[];
}

/** EventsAnswer is the answer of `GET /v1/events`. */
export interface EventsAnswer {
  events: HEvent[];
}

/** VolumeInfo is one volume as `GET /v1/volumes` lists it. */
export interface VolumeInfo {
  name: string;
  spec: VolumeSpec;
  role: Role;
  path: string;
  epoch: number;
  next_seq: number;
  state: 'active' | 'stopped';
  reason: string | null;
  stopCause: StopCause | null;
}

/** InviteAnswer is a new join token. */
export interface InviteAnswer {
  token: string;
  expiresAt: number;
}

/** VerifyReport is what `hindsight verify` found in the chunk store. */
export interface VerifyReport {
  chunks: number;
  bytes: number;
  /** Hashes (hex) whose bytes are missing, unreadable or hash to something else. */
  bad: string[];
}

/** CollectReport is what one garbage collection of the chunk store removed. */
export interface CollectReport {
  chunksDropped: number;
  bytesDropped: number;
  packsDeleted: number;
  packsRewritten: number;
}

/** GcAnswer is what `hindsight gc` did. */
export interface GcAnswer {
  versions: number;
  store: CollectReport | null;
}

/** ViewInfo is one view as the funnel commands (hold, resume, delay) answer it. */
export interface ViewInfo {
  volume: string;
  name: string;
  root: string;
  delayMs: number;
  appliedSeq: number;
  held: boolean;
  holdReason: 'hold' | 'rewind' | 'guard' | null;
  heldSince: number | null;
  movingFrom: number | null;
}

/** WrittenCounts says what a materialization did on disk. */
export interface WrittenCounts {
  removed: number;
  written: number;
  bytes: number;
}

/** RewindAnswer says where each view was moved. */
export interface RewindAnswer {
  seq: number;
  at: number | undefined;
  views: ({ view: string; seq: number } & WrittenCounts)[];
}

/** DiscardAnswer says how many stored changes were dropped for good. */
export interface DiscardAnswer {
  seq: number;
  discarded: number;
}

/** MaterializedAnswer says what a preview or a restore wrote, and where. */
export interface MaterializedAnswer extends WrittenCounts {
  seq: number;
  into: string;
}

/** TimelineEntry is one change as `hindsight timeline` lists it. */
export interface TimelineEntry {
  seq: number;
  at: number;
  path: string;
  kind: string;
  size: number;
}

/** TimelineAnswer lists changes (at most 10,000) with per-minute counts of all of them. */
export interface TimelineAnswer {
  total: number;
  truncated: boolean;
  changes: TimelineEntry[];
  perMinute: { minute: number; count: number }[];
}

/** ListEntry is one entry of `hindsight ls`. */
export interface ListEntry {
  name: string;
  path: string;
  kind: 'file' | 'dir' | 'symlink';
  size: number;
  mode: number;
  mtimeMs: number;
  target: string | null;
  changedAt: number;
}

/** ListAnswer is a directory as of a moment. */
export interface ListAnswer {
  seq: number;
  entries: ListEntry[];
}

/** PromoteOutcome is what a promotion did. */
export interface PromoteOutcome {
  volume: string;
  epoch: number;
  seq: number;
  quarantined: number;
  primary: string;
}

/** SwitchoverOutcome is who is primary after a switchover, at which epoch and seq. */
export interface SwitchoverOutcome {
  volume: string;
  primary: string;
  epoch: number;
  seq: number;
}

/** QuarantineEntry is one state kept out of the timeline, as `hindsight divergence` lists it. */
export interface QuarantineEntry {
  epoch: number;
  seq: number;
  origin: 'after-promote' | 'divergence';
  path: string;
  kind: 'put' | 'mkdir' | 'symlink' | 'delete' | 'meta';
  mode: number;
  mtimeMs: number;
  size: number;
  target: string | null;
  capturedAt: number;
  quarantinedAt: number;
}

/** ExportAnswer says what `divergence --export` wrote, and which paths were deletes. */
export interface ExportAnswer extends WrittenCounts {
  into: string;
  deleted: string[];
}

/** TierAnswer is one backup tier of this node, as `tier list --json` shows it (docs/commands.md). */
export interface TierAnswer {
  name: string;
  position: number;
  /** Without credentials. */
  url: string;
  state: 'online' | 'offline' | 'behind' | 'syncing' | 'foreign';
  revision: number;
  bytes: number;
  lastSuccessAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  /** An SFTP tier's pinned host key fingerprint (`SHA256:…`); null for other kinds. */
  hostKey?: string | null;
}

/** BackupAnswer is one backup this node took: the moment, the size, and the tiers that hold it. */
export interface BackupAnswer {
  volume: string;
  id: string;
  seq: number;
  at: number;
  takenAt: number;
  files: number;
  bytes: number;
  newBytes: number;
  tiers: string[];
}

/** BackupRestoreAnswer says which backup was restored, from which tier, and how much. */
export interface BackupRestoreAnswer {
  id: string;
  tier: string;
  files: number;
  bytes: number;
}

/** PruneAnswer says what `backup prune` removed and kept, and on which tiers. */
export interface PruneAnswer {
  snapshots: number;
  manifests: number;
  packs: number;
  bytes: number;
  kept: number;
  tiers: string[];
  /** Tiers whose account may not delete (append-only): nothing was pruned there. */
  refused: string[];
}

/** VerifyTierAnswer is `backup verify` of one tier: its report, or why it could not be verified. */
export interface VerifyTierAnswer {
  tier: string;
  report: {
    snapshots: number;
    manifests: number;
    chunks: number;
    packs: number;
    packsRead: number;
    problems: string[];
  } | null;
  error: string | null;
}

/** DrillAnswer is one restore drill: the measured recovery time and throughput, and what was wrong. */
export interface DrillAnswer {
  volume: string;
  id: string;
  tier: string;
  at: number;
  ms: number;
  files: number;
  bytes: number;
  bytesPerSecond: number;
  problems: string[];
  isOk: boolean;
}

/** KeepPolicyInput is `backup prune`'s --keep-* options. */
export interface KeepPolicyInput {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

/** BackupPlanAnswer is when a volume is backed up here, what prune keeps, and when a drill runs. */
export interface BackupPlanAnswer {
  volume: string;
  schedule: string | null;
  keep: KeepPolicyInput | null;
  drill: string | null;
}
