import { readFileSync, statfsSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { errorMessage } from '../core/index.ts';
import type { CheckFacts } from './check-facts.ts';
import type { CheckState } from './monitor-types.ts';
import { type CheckUnit, formatValue } from './thresholds.ts';

/**
 * The built-in checks. Each turns the facts into measurements, one per subject; a measurement
 * with a value is judged against the thresholds (checks.ts), one with a state says its own
 * verdict (an apply error is critical whatever the thresholds). docs/monitoring.md lists them.
 */

/** Measurement is one subject's reading of one check run. */
export interface Measurement {
  subject: string;
  volume: string | null;
  value: number | null;
  /** A verdict that does not depend on thresholds; else the value is judged. */
  state?: CheckState;
  message: string;
}

/** Thresholds of a check on a subject: past `warn` it warns, past `crit` it is critical. */
export interface Thresholds {
  warn: number | null;
  crit: number | null;
}

/** BuiltinCheck is one built-in check: what it measures and its defaults. */
export interface BuiltinCheck {
  name: string;
  /** One line for `check list` and the docs. */
  what: string;
  unit: CheckUnit;
  /** below: a value under the threshold is bad (free space); above: over it is bad (lag). */
  bad: 'below' | 'above';
  defaults: Thresholds & { everyMs: number };
  measure(facts: CheckFacts): Measurement[];
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const diskFree: BuiltinCheck = {
  name: 'disk-free',
  what: 'free space on every volume root, view, the state directory and file:// tiers',
  unit: '%',
  bad: 'below',
  defaults: { warn: 15, crit: 5, everyMs: 5 * MINUTE },
  measure: (facts) =>
    facts.disks.map(({ path, what, volume }) => {
      try {
        const st = statfsSync(path);
        const pct = st.blocks > 0 ? (st.bavail / st.blocks) * 100 : 0;
        const free = st.bavail * st.bsize;
        const size = st.blocks * st.bsize;
        return {
          subject: path,
          volume,
          value: Math.round(pct * 10) / 10,
          message: `${formatValue(Math.round(pct * 10) / 10, '%')} free (${gib(free)} of ${gib(size)}) on ${what}`,
        };
      } catch (err) {
        return {
          subject: path,
          volume,
          value: null,
          state: 'unknown',
          message: `cannot read ${what}: ${errorMessage(err)}`,
        };
      }
    }),
};

const memory: BuiltinCheck = {
  name: 'memory',
  what: 'memory available to new work on this machine',
  unit: '%',
  bad: 'below',
  defaults: { warn: 10, crit: 5, everyMs: MINUTE },
  measure: () => {
    const { available, total } = memoryNow();
    const pct = Math.round((available / total) * 1000) / 10;
    return [
      {
        subject: 'node',
        volume: null,
        value: pct,
        message: `${pct}% available (${gib(available)} of ${gib(total)})`,
      },
    ];
  },
};

const lag: BuiltinCheck = {
  name: 'lag',
  what: 'how far each mirror is behind its primary (seconds since it last had everything)',
  unit: 's',
  bad: 'above',
  defaults: { warn: 60, crit: 300, everyMs: 30_000 },
  measure: (facts) =>
    facts.mirrors.map((m) => {
      const subject = `${m.volume} → ${m.mirror}`;
      const link = m.link === 'connected' ? '' : `, link ${m.link}${m.refusal ? ` (${m.refusal})` : ''}`;
      const text = `${m.inSync ? 'in sync' : `behind by ${formatValue(Math.round(m.lagSeconds), 's')}, ${m.lagChanges} changes`}${link}`;
      // A mirror out of reach protects nothing, even with nothing waiting for it yet.
      if (m.link !== 'connected') {
        return {
          subject,
          volume: m.volume,
          value: Math.round(m.lagSeconds),
          state: 'critical',
          message: text,
        };
      }
      return { subject, volume: m.volume, value: Math.round(m.lagSeconds), message: text };
    }),
};

const upstream: BuiltinCheck = {
  name: 'link',
  what: "a mirror's link from its primary, and volumes stopped on this node",
  unit: 's',
  bad: 'above',
  defaults: { warn: null, crit: null, everyMs: 30_000 },
  measure: (facts) =>
    facts.upstreams.map((u) => {
      const subject = `${u.volume} ← ${u.primary}`;
      if (u.stopped)
        return {
          subject,
          volume: u.volume,
          value: null,
          state: 'critical',
          message: `volume stopped: ${u.stopped}`,
        };
      return u.connected
        ? { subject, volume: u.volume, value: null, state: 'ok', message: 'connected' }
        : { subject, volume: u.volume, value: null, state: 'critical', message: `no link from ${u.primary}` };
    }),
};

const funnel: BuiltinCheck = {
  name: 'funnel',
  what: 'each view: held, or behind its delay, for longer than the limit; a view whose applies fail is critical',
  unit: 's',
  bad: 'above',
  defaults: { warn: 4 * 3600, crit: 24 * 3600, everyMs: MINUTE },
  measure: (facts) =>
    facts.views.map((v) => {
      const subject = `${v.volume}/${v.view}`;
      if (v.error) {
        const since = Math.round((facts.now - v.error.since) / 1000);
        return {
          subject,
          volume: v.volume,
          value: since,
          state: 'critical',
          message: `${v.error.stopped ? 'stopped' : 'not moving'}: applies fail for ${formatValue(since, 's')}: ${v.error.message}`,
        };
      }
      if (v.held && v.heldSince !== null) {
        const held = Math.round((facts.now - v.heldSince) / 1000);
        return {
          subject,
          volume: v.volume,
          value: held,
          message: `held (${v.holdReason ?? 'hold'}) for ${formatValue(held, 's')}`,
        };
      }
      const overdue =
        v.oldestWaitingAt === null
          ? 0
          : Math.max(0, Math.round((facts.now - v.oldestWaitingAt - v.delayMs) / 1000));
      return {
        subject,
        volume: v.volume,
        value: overdue,
        message: overdue > 0 ? `behind its delay by ${formatValue(overdue, 's')}` : 'moving with its delay',
      };
    }),
};

const guard: BuiltinCheck = {
  name: 'guard',
  what: 'the mass-change guard tripped within the last hour (held views stay in the funnel check)',
  unit: 's',
  bad: 'above',
  defaults: { warn: null, crit: null, everyMs: MINUTE },
  measure: (facts) =>
    facts.guardTrips.map((t) => ({
      subject: t.volume,
      volume: t.volume,
      value: null,
      state: 'critical',
      message: `${t.message} (${Math.round((facts.now - t.at) / MINUTE)} min ago)`,
    })),
};

const backupAge: BuiltinCheck = {
  name: 'backup-age',
  what: 'time since the last successful backup of each volume backed up here, and whether the last run failed',
  unit: 'h',
  bad: 'above',
  defaults: { warn: 26, crit: 50, everyMs: 5 * MINUTE },
  measure: (facts) =>
    facts.backups.map((b) => {
      const failed =
        b.lastFailure && (b.lastAt === null || b.lastFailure.at > b.lastAt) ? b.lastFailure : null;
      if (b.lastAt === null) {
        return {
          subject: b.volume,
          volume: b.volume,
          value: null,
          state: failed ? 'critical' : 'warning',
          message: failed ? `never backed up; the last run failed: ${failed.message}` : 'never backed up yet',
        };
      }
      const hours = Math.round(((facts.now - b.lastAt) / HOUR) * 10) / 10;
      const age = `last backup ${formatValue(hours, 'h')} ago`;
      if (failed)
        return {
          subject: b.volume,
          volume: b.volume,
          value: hours,
          state: 'warning',
          message: `${age}; the last run failed: ${failed.message}`,
        };
      return { subject: b.volume, volume: b.volume, value: hours, message: age };
    }),
};

const tiers: BuiltinCheck = {
  name: 'tiers',
  what: 'each backup tier reachable and in step (offline or behind: warning; written by another node: critical)',
  unit: 's',
  bad: 'above',
  defaults: { warn: null, crit: null, everyMs: 5 * MINUTE },
  measure: (facts) =>
    facts.tiers.map((t) => {
      const state: CheckState =
        t.state === 'foreign' ? 'critical' : t.state === 'offline' || t.state === 'behind' ? 'warning' : 'ok';
      const error = t.lastError && state !== 'ok' ? `: ${t.lastError}` : '';
      return { subject: t.name, volume: null, value: null, state, message: `${t.state}${error}` };
    }),
};

const drill: BuiltinCheck = {
  name: 'drill',
  what: 'the last restore drill of each volume found nothing wrong, and is not older than the limit',
  unit: 'd',
  bad: 'above',
  defaults: { warn: 35, crit: null, everyMs: HOUR },
  measure: (facts) =>
    facts.drills.map((d) => {
      if (d.at === null) {
        return {
          subject: d.volume,
          volume: d.volume,
          value: null,
          state: 'warning',
          message: 'no restore drill yet',
        };
      }
      const days = Math.round(((facts.now - d.at) / DAY) * 10) / 10;
      if (d.problems > 0) {
        return {
          subject: d.volume,
          volume: d.volume,
          value: days,
          state: 'critical',
          message: `the last drill found ${d.problems} problems`,
        };
      }
      return {
        subject: d.volume,
        volume: d.volume,
        value: days,
        message: `last drill ${formatValue(days, 'd')} ago, no problems`,
      };
    }),
};

const certificates: BuiltinCheck = {
  name: 'certificates',
  what: "days until the node's certificate and the cluster CA expire",
  unit: 'd',
  bad: 'below',
  defaults: { warn: 30, crit: 7, everyMs: 6 * HOUR },
  measure: (facts) =>
    facts.certificates.map((c) => {
      const days = Math.floor((c.notAfter - facts.now) / DAY);
      return {
        subject: c.subject,
        volume: null,
        value: days,
        message:
          days < 0
            ? `expired ${-days} days ago`
            : `expires in ${days} days (${new Date(c.notAfter).toISOString().slice(0, 10)})`,
      };
    }),
};

const witness: BuiltinCheck = {
  name: 'witness',
  what: 'seconds since the witness last answered a primary with automatic failover',
  unit: 's',
  bad: 'above',
  defaults: { warn: 30, crit: 120, everyMs: 30_000 },
  measure: (facts) =>
    facts.witnesses.map((w) => {
      const subject = `${w.volume} → ${w.witness}`;
      if (w.silentMs === null) {
        return {
          subject,
          volume: w.volume,
          value: null,
          state: 'unknown',
          message: `the witness ${w.witness} has not answered since the agent started`,
        };
      }
      const s = Math.round(w.silentMs / 1000);
      return { subject, volume: w.volume, value: s, message: `last answer ${formatValue(s, 's')} ago` };
    }),
};

/** BUILTIN_CHECKS are every built-in check, in the order `check list` shows them. */
export const BUILTIN_CHECKS: readonly BuiltinCheck[] = [
  diskFree,
  memory,
  lag,
  upstream,
  funnel,
  guard,
  backupAge,
  tiers,
  drill,
  certificates,
  witness,
];

/** memoryNow reads MemAvailable (what new work can use without swapping), else free memory. */
function memoryNow(): { available: number; total: number } {
  try {
    const text = readFileSync('/proc/meminfo', 'utf8');
    const kb = (key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
    const available = kb('MemAvailable');
    const total = kb('MemTotal');
    if (Number.isFinite(available) && Number.isFinite(total) && total > 0) return { available, total };
  } catch {
    // not Linux: the portable figures below
  }
  return { available: freemem(), total: totalmem() };
}

function gib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}
