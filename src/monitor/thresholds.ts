import { HindsightError } from '../core/index.ts';

/** CheckUnit is what a check's value and thresholds are measured in. */
export type CheckUnit = '%' | 's' | 'd' | 'h';

const SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * parseThreshold reads a threshold given on the command line in a check's unit: "15%" or "15"
 * for percent, "90s", "5m", "4h", "30d" (or a bare number of the unit) for times.
 */
export function parseThreshold(text: string, unit: CheckUnit, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%|s|m|h|d)?\s*$/.exec(text);
  const bad = () =>
    new HindsightError(
      'E_CHECK_BAD_THRESHOLD',
      `${what}: "${text}" is not a threshold in ${unitName(unit)}`,
      {
        hint:
          unit === '%'
            ? 'give a percentage such as 15%'
            : 'give a time such as 90s, 5m, 4h or 30d (or a number)',
      },
    );
  if (!m) throw bad();
  const n = Number(m[1]);
  const suffix = m[2];
  if (unit === '%') {
    if (suffix !== undefined && suffix !== '%') throw bad();
    if (n > 100) throw bad();
    return n;
  }
  if (suffix === '%') throw bad();
  if (suffix === undefined) return n;
  const unitSeconds = SECONDS[unit === 'd' ? 'd' : unit === 'h' ? 'h' : 's'];
  return (n * SECONDS[suffix]) / unitSeconds;
}

/** formatValue shows a value in its unit for people ("12.5%", "4m 10s", "3.2 d"). */
export function formatValue(value: number, unit: CheckUnit): string {
  if (unit === '%') return `${round(value)}%`;
  if (unit === 'd') return `${round(value)} d`;
  const s = unit === 'h' ? value * 3600 : value;
  if (s < 120) return `${round(s)} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  if (s < 172_800) return `${round(s / 3600)} h`;
  return `${round(s / 86_400)} d`;
}

function round(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function unitName(unit: CheckUnit): string {
  return { '%': 'percent', s: 'seconds', d: 'days', h: 'hours' }[unit];
}
