import type { HEvent } from '../core/index.ts';

/**
 * The vocabulary of the monitor stage: checks and their states, alarms, and the notices that
 * tell people. docs/monitoring.md describes them for administrators.
 */

/** CheckState is a check's verdict, in the monitoring-plugin convention (exit codes 0–3). */
export type CheckState = 'ok' | 'warning' | 'critical' | 'unknown';

/** CHECK_EXIT is the exit code of each state, as Nagios, Icinga and Zabbix read it. */
export const CHECK_EXIT: Record<CheckState, number> = { ok: 0, warning: 1, critical: 2, unknown: 3 };

/** worseState returns the more serious of two states (critical > warning > unknown > ok). */
export function worseState(a: CheckState, b: CheckState): CheckState {
  const rank: Record<CheckState, number> = { ok: 0, unknown: 1, warning: 2, critical: 3 };
  return rank[a] >= rank[b] ? a : b;
}

/** AlarmState is the state of an open alarm: anything but ok. */
export type AlarmState = Exclude<CheckState, 'ok'>;

/** AlarmInfo is one alarm: a check's subject that left `ok`, from opening until it is back. */
export interface AlarmInfo {
  id: number;
  /** The node that raised it. */
  node: string;
  check: string;
  /** What the check looked at ("/srv/docs", "docs → beta", "node"). */
  subject: string;
  state: AlarmState;
  message: string;
  openedAt: number;
  /** When its state or message last changed. */
  updatedAt: number;
  closedAt: number | null;
  ackedAt: number | null;
  /** Who acknowledged it (free text, for example the user name). */
  ackedBy: string | null;
  /** The volume it concerns, if any. */
  volume: string | null;
}

/** AlarmChange is what happened to an alarm, for notices: each is sent once. */
export type AlarmChange = 'opened' | 'worse' | 'reminder' | 'resolved';

/** RunKind names the runs whose report a notice carries. */
export type RunKind = 'backup' | 'drill' | 'catch-up' | 'switchover' | 'failover';

/** RunReport is the outcome of one run, with its protocol: the events it wrote. */
export interface RunReport {
  run: RunKind;
  node: string;
  volume: string | null;
  ok: boolean;
  /** One line for a subject ("backup of docs finished: 1,203 files, 3.2 MB new"). */
  title: string;
  at: number;
  /** The events of the run, oldest first. */
  protocol: HEvent[];
}

/**
 * Notice is one thing to tell people: an alarm that changed, or a run that ended. The notifiers
 * decide, each by its policy, whether and how to pass it on.
 */
export type Notice =
  | { kind: 'alarm'; change: AlarmChange; alarm: AlarmInfo; protocol: HEvent[] }
  | { kind: 'run'; report: RunReport };

/** NoticeSink receives notices; delivery never blocks or fails the caller. */
export interface NoticeSink {
  notify(notice: Notice): void;
}

/** CheckResult is the latest verdict of one check on one subject. */
export interface CheckResult {
  check: string;
  /** What was looked at: a path, "docs → beta", a tier, "node". */
  subject: string;
  volume: string | null;
  state: CheckState;
  /** Since when the subject has been in this state (ms). */
  since: number;
  /** One line for people: the value against the threshold, or why it cannot tell. */
  message: string;
  /** The measured value, in the check's unit (percent, seconds, days, …), if it has one. */
  value: number | null;
  /** The thresholds as text ("warn 15%, crit 5%"), if it has any. */
  threshold: string | null;
  ranAt: number;
}

/** ReadinessComponent is one part of the DR-readiness score and what it contributed. */
export interface ReadinessComponent {
  /** lag, funnel, tiers, backup-age, drill, disk, witness. */
  name: string;
  /** 0–100 for this part. */
  score: number;
  /** Its share of the whole (the weights add up to 1 over the parts that apply). */
  weight: number;
  /** Why it scored so, for people. */
  detail: string;
}

/** Readiness is the DR-readiness score, 0–100, and its parts (docs/monitoring.md says how). */
export interface Readiness {
  score: number;
  components: ReadinessComponent[];
}

/** NodeReadiness is the node's score (its worst volume's, at most) and each volume's. */
export interface NodeReadiness extends Readiness {
  volumes: ({ volume: string } & Readiness)[];
}
