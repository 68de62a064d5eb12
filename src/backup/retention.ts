import { HindsightError } from '../core/index.ts';

/** KeepPolicy says which backups of a volume `prune` keeps, as restic's `forget` does. */
export interface KeepPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

const BUCKETS: [keyof KeepPolicy, (d: Date) => string][] = [
  ['hourly', (d) => d.toISOString().slice(0, 13)],
  ['daily', (d) => d.toISOString().slice(0, 10)],
  ['weekly', (d) => isoWeek(d)],
  ['monthly', (d) => d.toISOString().slice(0, 7)],
  ['yearly', (d) => d.toISOString().slice(0, 4)],
];

/**
 * keptBackups returns the ids to keep of one volume's backups under `policy`: the newest `last`,
 * and for each of hourly, daily, weekly, monthly and yearly, the newest backup of each of the
 * newest N such periods (UTC). A policy that keeps nothing is refused: prune would delete
 * every backup.
 */
export function keptBackups(
  backups: readonly { id: string; at: number; takenAt?: number }[],
  policy: KeepPolicy,
): Set<string> {
  if (!Object.values(policy).some((n) => (n ?? 0) > 0)) {
    throw new HindsightError('E_USAGE', 'a keep policy must keep something', {
      hint: 'e.g. --keep-last 3 --keep-daily 7 --keep-weekly 4 --keep-monthly 12',
    });
  }
  // Newest moment first; of two backups of one moment, the one taken last.
  const newestFirst = [...backups].sort((a, b) => b.at - a.at || (b.takenAt ?? 0) - (a.takenAt ?? 0));
  const keep = new Set(newestFirst.slice(0, policy.last ?? 0).map((b) => b.id));
  for (const [name, bucketOf] of BUCKETS) {
    const wanted = policy[name] ?? 0;
    const seen = new Set<string>();
    for (const b of newestFirst) {
      if (seen.size >= wanted) break;
      const bucket = bucketOf(new Date(b.at));
      if (seen.has(bucket)) continue;
      seen.add(bucket);
      keep.add(b.id);
    }
  }
  return keep;
}

/** isoWeek names the ISO-8601 week of `d` (UTC), e.g. "2026-W49". */
function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}
