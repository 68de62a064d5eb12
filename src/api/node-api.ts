import type { HEvent, RolesInput, VolumeInput, VolumeSpec } from '../core/index.ts';
import type { Alarms, Checks, EventLog, Notices } from '../monitor/index.ts';
import type {
  BackupAnswer,
  BackupPlanAnswer,
  BackupRestoreAnswer,
  BackupStatus,
  DiscardAnswer,
  DrillAnswer,
  ExportAnswer,
  GcAnswer,
  InviteAnswer,
  KeepPolicyInput,
  ListAnswer,
  MaterializedAnswer,
  PromoteOutcome,
  PruneAnswer,
  QuarantineEntry,
  RewindAnswer,
  StatusReport,
  SwitchoverOutcome,
  TierAnswer,
  TimelineAnswer,
  VerifyReport,
  VerifyTierAnswer,
  ViewInfo,
  VolumeInfo,
} from './answers.ts';

/**
 * NodeApi is what the routes need of a node, and all they know of it: the daemon hands in the
 * stages that answer each area. A new route adds a member here, the daemon wires it, and the
 * answer type in answers.ts says what clients get.
 */
export interface NodeApi {
  /** now is the node's wall clock: relative moments ("10 minutes ago") are read against it. */
  now(): number;
  status(): StatusReport;
  /** events waits up to `waitMs` for events after `since` (a long poll). */
  events(since: number, waitMs: number, signal: AbortSignal): Promise<HEvent[]>;
  volumes(): VolumeInfo[];
  addVolume(input: VolumeInput): Promise<VolumeSpec>;
  setRoles(name: string, input: RolesInput): VolumeSpec;
  invite(): Promise<InviteAnswer>;
  verify(): Promise<VerifyReport>;
  collect(): Promise<GcAnswer>;
  /** monitor: checks, alarms, notifiers and the event log's export. */
  monitor: {
    checks: Pick<Checks, 'definitions' | 'results' | 'run' | 'runAll' | 'set' | 'add' | 'remove'>;
    alarms: Pick<Alarms, 'open' | 'recent' | 'ack' | 'configure' | 'reminderMs'>;
    notices: Pick<Notices, 'list' | 'add' | 'remove' | 'test'>;
    events: Pick<EventLog, 'between'>;
  };
  /** relay runs an API request on another node of the cluster (`--on NODE`). */
  relay(node: string, method: 'GET' | 'POST', path: string, body: unknown): Promise<unknown>;
  /** funnel: the views of a mirrored volume and how they move. */
  funnel: {
    hold(volume: string, view?: string): ViewInfo[];
    resume(volume: string, view?: string): ViewInfo[];
    setDelay(volume: string, delayMs: number, view?: string): ViewInfo[];
    rewind(volume: string, at: number, view?: string): Promise<RewindAnswer>;
    discard(volume: string, at: number): Promise<DiscardAnswer>;
  };
  /** past: the timeline of a mirrored volume, read only. */
  past: {
    preview(volume: string, at: number, into: string): Promise<MaterializedAnswer>;
    restore(volume: string, path: string, at: number, into: string): Promise<MaterializedAnswer>;
    list(volume: string, at: number, path: string): ListAnswer;
    read(volume: string, at: number, path: string): { size: number; chunks: Iterable<Buffer> };
    timeline(volume: string, since: number, until: number, glob?: string): TimelineAnswer;
  };
  /** backups: this node's tiers and the backups it takes from its mirrored volumes. */
  backups: {
    tiers(): TierAnswer[];
    addTier(
      name: string,
      url: string,
      options: { adopt?: boolean; credentials?: string; identity?: string },
    ): Promise<TierAnswer>;
    run(volume: string, at?: number): Promise<BackupAnswer>;
    list(volume?: string): BackupAnswer[];
    restore(
      volume: string,
      options: { id?: string; at?: number; into: string; path?: string; tier?: string },
    ): Promise<BackupRestoreAnswer>;
    exportKey(): string;
    prune(
      policy: KeepPolicyInput,
      options: { volume?: string; access?: { credentials?: string; identity?: string } },
    ): Promise<PruneAnswer>;
    verify(options: { readShare: number; tier?: string }): Promise<VerifyTierAnswer[]>;
    drill(volume: string, options: { tier?: string }): Promise<DrillAnswer>;
    running(): BackupStatus['running'];
    lastDrill(
      volume: string,
    ): { at: number; ms: number; files: number; bytes: number; problems: number } | undefined;
  };
  /** backupPlans: when each volume is backed up here, what prune keeps, when drills run. */
  backupPlans: {
    list(): BackupPlanAnswer[];
    set(
      volume: string,
      change: { schedule?: string | null; keep?: KeepPolicyInput | null; drill?: string | null },
    ): BackupPlanAnswer;
  };
  /** roles: who is primary, and what role changes kept aside. */
  roles: {
    promote(volume: string, options: { at?: number; force?: boolean }): Promise<PromoteOutcome>;
    switchover(volume: string, to?: string): Promise<SwitchoverOutcome>;
    divergence(volume: string): QuarantineEntry[];
    exportDivergence(
      volume: string,
      into: string,
      origin?: 'divergence' | 'after-promote',
    ): Promise<ExportAnswer>;
  };
}
