/**
 * CheckFacts is everything the built-in checks look at, gathered by the daemon from the stages
 * (the status report, the state paths, the identity) when the checks run. The checks are pure
 * functions of facts and settings, apart from reading free space and memory themselves, so a
 * test can hand them any situation.
 */
export interface CheckFacts {
  node: string;
  now: number;
  /** Directories whose file system must keep free space: volume roots, views, the state directory, file:// tiers. */
  disks: { path: string; what: string; volume: string | null }[];
  /** Primary side: each mirror of each volume. */
  mirrors: {
    volume: string;
    mirror: string;
    lagSeconds: number;
    lagChanges: number;
    inSync: boolean;
    link: 'connected' | 'disconnected' | 'refused';
    refusal: string | null;
  }[];
  /** Mirror side: each volume's link from its primary. */
  upstreams: { volume: string; primary: string; connected: boolean; stopped: string | null }[];
  /** Mirror side: each view and how far it is from where its delay says it should be. */
  views: {
    volume: string;
    view: string;
    delayMs: number;
    held: boolean;
    holdReason: string | null;
    heldSince: number | null;
    /** When the oldest change waiting in the funnel arrived (null: none waits). */
    oldestWaitingAt: number | null;
    error: { since: number; message: string; stopped: boolean } | null;
  }[];
  /** Mass-change guard trips within the last hour, newest per volume. */
  guardTrips: { volume: string; at: number; message: string; held: boolean }[];
  /** Volumes backed up here (a plan or a backup exists): the newest backup and the newest failure. */
  backups: {
    volume: string;
    scheduled: boolean;
    lastAt: number | null;
    lastFailure: { at: number; message: string } | null;
  }[];
  tiers: { name: string; state: string; lastError: string | null }[];
  /** Volumes with a restore drill: the newest one. */
  drills: { volume: string; at: number | null; problems: number; planned: boolean }[];
  certificates: { subject: string; notAfter: number }[];
  /** Primary side, volumes with automatic failover: how long the witness has been silent. */
  witnesses: { volume: string; witness: string; silentMs: number | null }[];
}
