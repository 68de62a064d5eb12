/**
 * Time text: how people write durations (`30m`, `1h30m`, `7d`) and moments (`2026-11-22 14:03`,
 * `10 minutes ago`, `-2h`) on the command line, in the configuration and in the dashboard, and
 * how Hindsight writes them back. Parsing never guesses: text that could mean two things is
 * refused with a hint, because a rewind to the wrong moment is worse than a retyped command.
 * Local times use the process time zone (`TZ`), as the operator's shell does.
 */
import { HindsightError } from './errors.ts';

const MILLISECOND = 1;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

/** Largest first: a compact duration must name its units in this order, each at most once. */
const DURATION_UNITS: readonly { name: string; ms: number }[] = [
  { name: 'w', ms: WEEK },
  { name: 'd', ms: DAY },
  { name: 'h', ms: HOUR },
  { name: 'm', ms: MINUTE },
  { name: 's', ms: SECOND },
  { name: 'ms', ms: MILLISECOND },
];

/** Weeks are left out of formatted text on purpose: `30d` reads better than `4w2d`. */
const FORMAT_UNITS: readonly { name: string; ms: number }[] = [
  { name: 'd', ms: DAY },
  { name: 'h', ms: HOUR },
  { name: 'm', ms: MINUTE },
  { name: 's', ms: SECOND },
];

/** Unit words accepted in `<n> <unit> ago`; a Map so that `toString` and friends are not units. */
const UNIT_WORDS: ReadonlyMap<string, number> = new Map(
  Object.entries({
    ms: MILLISECOND,
    s: SECOND,
    sec: SECOND,
    secs: SECOND,
    second: SECOND,
    seconds: SECOND,
    m: MINUTE,
    min: MINUTE,
    mins: MINUTE,
    minute: MINUTE,
    minutes: MINUTE,
    h: HOUR,
    hour: HOUR,
    hours: HOUR,
    d: DAY,
    day: DAY,
    days: DAY,
    w: WEEK,
    week: WEEK,
    weeks: WEEK,
  }),
);

/** The largest epoch milliseconds a Date can hold (ECMAScript time value limit). */
const MAX_TIME_MS = 8.64e15;

/** Epoch milliseconds have at least 12 digits for any moment after March 1973; shorter is ambiguous. */
const EPOCH_MS_PATTERN = /^\d{12,}$/;

/** `2026-11-22`, `2026-11-22T14:03`, `2026-11-22 14:03:05.120 +01:00`, `…Z` (text is lower-cased). */
const DATE_TIME_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[t ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:\s*(z|[+-]\d{2}(?::?\d{2})?))?)?$/;

/** `14:03`, `14:03:05`, `14:03:05.120`: today, local time. */
const TIME_OF_DAY_PATTERN = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?$/;

/** `-10m`, `+5m`, `-2h30m`. */
const SIGNED_DURATION_PATTERN = /^([+-])\s*(.+)$/;

/** `10 minutes ago`, `1 day ago`, `30s ago`. */
const WORD_AGO_PATTERN = /^(\d+(?:\.\d+)?)\s*([a-z]+)\s+ago$/;

/** `1h30m ago`. */
const COMPACT_AGO_PATTERN = /^(.+?)\s+ago$/;

const DURATION_HINT =
  'write a number with a unit, largest unit first: 500ms, 90s, 30m, 4h, 7d, 2w, 1h30m (0 needs no unit)';

const MOMENT_HINT =
  'write an ISO time (2026-11-22T14:03:05Z, 2026-11-22T14:03:05+01:00, 2026-11-22 14:03, 2026-11-22, ' +
  '14:03 for today), a relative time (now, -10m, -2h30m, +5m, 10 minutes ago, 3 days ago; ' +
  'units s, m, h, d, w or second, minute, hour, day, week) or epoch milliseconds (12 digits or more)';

/**
 * parseDuration reads a duration typed by a person and returns it in milliseconds. It accepts
 * `0`, a number with a unit (`500ms`, `90s`, `30m`, `4h`, `7d`, `2w`, also `1.5h`) and
 * combinations largest unit first (`1h30m`, `1d12h`), case-insensitive. A bare number other
 * than 0 is refused because it could mean seconds, minutes or milliseconds.
 * Throws E_DURATION_INVALID.
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === '') {
    throw new HindsightError('E_DURATION_INVALID', 'empty duration', { hint: DURATION_HINT });
  }
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) {
    if (Number(trimmed) === 0) return 0;
    throw new HindsightError('E_DURATION_INVALID', `duration "${text}" has no unit`, {
      hint: 'a bare number is ambiguous; add its unit, for example 30m, 4h or 7d',
    });
  }
  if (trimmed.startsWith('-')) {
    throw new HindsightError('E_DURATION_INVALID', `duration "${text}" is negative`, { hint: DURATION_HINT });
  }
  const ms = readCompactDuration(trimmed);
  if (ms === undefined) {
    throw new HindsightError('E_DURATION_INVALID', `not a duration: "${text}"`, { hint: DURATION_HINT });
  }
  if (ms > Number.MAX_SAFE_INTEGER) {
    throw new HindsightError('E_DURATION_INVALID', `duration "${text}" is too long`, {
      hint: 'durations must fit in 2^53 milliseconds (about 285,000 years)',
    });
  }
  return ms;
}

/**
 * formatDuration writes milliseconds as a compact duration for people: at most two units,
 * largest first, the smaller one rounded (`0s`, `250ms`, `1.5s`, `45s`, `1m30s`, `4h`, `1d2h`).
 * Below 10 s it keeps tenths of a second; from there on it never shows a fraction. The text is
 * accepted by parseDuration. Negative values get a leading `-`. Throws E_DURATION_INVALID
 * for NaN and infinities.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) {
    throw new HindsightError('E_DURATION_INVALID', `cannot format duration ${ms}`);
  }
  if (ms < 0) return `-${formatDuration(-ms)}`;
  const whole = Math.round(ms);
  if (whole === 0) return '0s';
  if (whole < SECOND) return `${whole}ms`;
  if (whole < 10 * SECOND) return `${Math.round(whole / 100) / 10}s`;
  return formatTwoUnits(whole);
}

/**
 * parseMoment reads a moment typed by a person and returns epoch milliseconds. `nowMs` (from the
 * Clock) anchors relative forms and the time-of-day form. Accepted:
 * ISO-8601 with `Z` or an offset; without a zone it is local time (`2026-11-22T14:03`,
 * `2026-11-22 14:03`); a date alone is local midnight; `14:03` is that time today even when it
 * is later than now (never silently yesterday); `now`, `-10m`, `+5m`, `-2h30m`,
 * `10 minutes ago`, `1h30m ago`; and 12 or more digits as epoch milliseconds.
 * A local time inside a daylight-saving gap moves forward, as Date does.
 * Throws E_TIME_INVALID; never returns NaN.
 */
export function parseMoment(text: string, nowMs: number): number {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === '') {
    throw new HindsightError('E_TIME_INVALID', 'empty time', { hint: MOMENT_HINT });
  }
  const ms = readMoment(trimmed, nowMs);
  if (ms === undefined) {
    throw new HindsightError('E_TIME_INVALID', `not a time: "${text}"`, { hint: MOMENT_HINT });
  }
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TIME_MS) {
    throw new HindsightError('E_TIME_INVALID', `time "${text}" is out of range`, { hint: MOMENT_HINT });
  }
  return ms;
}

/**
 * formatMoment writes epoch milliseconds as local time with its zone offset, to the second and
 * with milliseconds only when they are not zero: `2026-11-22 14:03:05 +01:00`,
 * `2026-11-22 14:03:05.120 +01:00`. The zone is the process's (`TZ`). parseMoment reads the
 * text back to the same milliseconds. Throws E_TIME_INVALID for values Date cannot hold.
 */
export function formatMoment(ms: number): string {
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) {
    throw new HindsightError('E_TIME_INVALID', `cannot format time ${ms}`);
  }
  const day = `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1, 2)}-${pad(date.getDate(), 2)}`;
  let time = `${pad(date.getHours(), 2)}:${pad(date.getMinutes(), 2)}:${pad(date.getSeconds(), 2)}`;
  if (date.getMilliseconds() !== 0) time += `.${pad(date.getMilliseconds(), 3)}`;
  // getTimezoneOffset is UTC minus local, so east of Greenwich it is negative.
  const eastMinutes = -date.getTimezoneOffset();
  const sign = eastMinutes < 0 ? '-' : '+';
  const offset = `${sign}${pad(Math.floor(Math.abs(eastMinutes) / 60), 2)}:${pad(Math.abs(eastMinutes) % 60, 2)}`;
  return `${day} ${time} ${offset}`;
}

/**
 * readCompactDuration sums the parts of `1h30m`-style text (already trimmed and lower-cased);
 * undefined when the text is not made only of such parts, or repeats or disorders units.
 * The sum may exceed MAX_SAFE_INTEGER; callers decide.
 */
function readCompactDuration(text: string): number | undefined {
  // One part: a number and its unit, `ms` tried before `m`. Sticky, and created per call because
  // a sticky pattern carries its position in lastIndex.
  const partPattern = /\s*(\d+(?:\.\d+)?)(ms|[wdhms])/y;
  let total = 0;
  let smallestUnitSoFar = Number.POSITIVE_INFINITY;
  while (partPattern.lastIndex < text.length) {
    const match = partPattern.exec(text);
    if (match === null) return undefined;
    const unit = DURATION_UNITS.find((candidate) => candidate.name === match[2])!;
    if (unit.ms >= smallestUnitSoFar) return undefined;
    smallestUnitSoFar = unit.ms;
    total += Number(match[1]) * unit.ms;
  }
  if (smallestUnitSoFar === Number.POSITIVE_INFINITY) return undefined;
  return Math.round(total);
}

/** readMoment tries each accepted form in turn; undefined when none fits or a field is out of range. */
function readMoment(text: string, nowMs: number): number | undefined {
  if (text === 'now') return nowMs;
  if (EPOCH_MS_PATTERN.test(text)) return Number(text);

  const dateTime = DATE_TIME_PATTERN.exec(text);
  if (dateTime !== null) {
    const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', zone] = dateTime;
    const fields = {
      year: Number(year),
      month: Number(month),
      day: Number(day),
      hour: Number(hour),
      minute: Number(minute),
      second: Number(second),
      millisecond: fractionToMilliseconds(fraction),
    };
    if (!areValidFields(fields)) return undefined;
    if (zone === undefined) return localTime(fields);
    const offsetMs = zoneOffsetMs(zone);
    if (offsetMs === undefined) return undefined;
    return utcTime(fields) - offsetMs;
  }

  const timeOfDay = TIME_OF_DAY_PATTERN.exec(text);
  if (timeOfDay !== null) {
    const [, hour, minute, second = '0', fraction = ''] = timeOfDay;
    const today = new Date(nowMs);
    const fields = {
      year: today.getFullYear(),
      month: today.getMonth() + 1,
      day: today.getDate(),
      hour: Number(hour),
      minute: Number(minute),
      second: Number(second),
      millisecond: fractionToMilliseconds(fraction),
    };
    if (!areValidFields(fields)) return undefined;
    return localTime(fields);
  }

  const signed = SIGNED_DURATION_PATTERN.exec(text);
  if (signed !== null) {
    const ms = readCompactDuration(signed[2]);
    if (ms === undefined) return undefined;
    return signed[1] === '-' ? nowMs - ms : nowMs + ms;
  }

  const wordAgo = WORD_AGO_PATTERN.exec(text);
  if (wordAgo !== null) {
    const unitMs = UNIT_WORDS.get(wordAgo[2]);
    if (unitMs === undefined) return undefined;
    return nowMs - Math.round(Number(wordAgo[1]) * unitMs);
  }

  const compactAgo = COMPACT_AGO_PATTERN.exec(text);
  if (compactAgo !== null) {
    const ms = readCompactDuration(compactAgo[1]);
    if (ms === undefined) return undefined;
    return nowMs - ms;
  }

  return undefined;
}

/** The calendar and clock fields of a moment as written, month 1–12. */
type MomentFields = {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
};

/** areValidFields refuses what Date would silently roll over: month 13, 31 April, 24:00, second 60. */
function areValidFields(fields: MomentFields): boolean {
  if (fields.month < 1 || fields.month > 12) return false;
  if (fields.day < 1 || fields.day > daysInMonth(fields.year, fields.month)) return false;
  return fields.hour <= 23 && fields.minute <= 59 && fields.second <= 59;
}

/** daysInMonth counts the days of a month (1–12), leap years included. */
function daysInMonth(year: number, month: number): number {
  const date = new Date(0);
  // Day 0 of the next month is the last day of this one.
  date.setUTCFullYear(year, month, 0);
  return date.getUTCDate();
}

/** localTime builds the moment in the process time zone; setFullYear avoids Date's 1900 + yy rule. */
function localTime(fields: MomentFields): number {
  const date = new Date(0);
  date.setFullYear(fields.year, fields.month - 1, fields.day);
  date.setHours(fields.hour, fields.minute, fields.second, fields.millisecond);
  return date.getTime();
}

/** utcTime builds the moment in UTC; setUTCFullYear avoids Date.UTC's 1900 + yy rule. */
function utcTime(fields: MomentFields): number {
  const date = new Date(0);
  date.setUTCFullYear(fields.year, fields.month - 1, fields.day);
  date.setUTCHours(fields.hour, fields.minute, fields.second, fields.millisecond);
  return date.getTime();
}

/** zoneOffsetMs reads `z`, `+01:00`, `+0100` or `+01` as milliseconds east of UTC. */
function zoneOffsetMs(zone: string): number | undefined {
  if (zone === 'z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
  if (hours > 23 || minutes > 59) return undefined;
  return sign * (hours * HOUR + minutes * MINUTE);
}

/** fractionToMilliseconds keeps the first three digits of a fraction of a second; finer digits are dropped. */
function fractionToMilliseconds(fraction: string): number {
  return Number(fraction.padEnd(3, '0').slice(0, 3));
}

/**
 * formatTwoUnits writes 10 s or more as its two largest units, rounded to the smaller one.
 * Rounding can carry into a larger unit (23h59m40s → 1d); the carry leaves the smaller unit zero.
 */
function formatTwoUnits(ms: number): string {
  const largestIndex = FORMAT_UNITS.findIndex((unit) => ms >= unit.ms);
  const resolution = (FORMAT_UNITS[largestIndex + 1] ?? FORMAT_UNITS[largestIndex]).ms;
  const rounded = Math.round(ms / resolution) * resolution;
  const index = FORMAT_UNITS.findIndex((unit) => rounded >= unit.ms);
  const first = FORMAT_UNITS[index];
  const count = Math.floor(rounded / first.ms);
  const rest = rounded - count * first.ms;
  const second = FORMAT_UNITS[index + 1];
  if (rest === 0 || second === undefined) return `${count}${first.name}`;
  return `${count}${first.name}${rest / second.ms}${second.name}`;
}

/** pad writes a non-negative integer with leading zeros to `width` digits. */
function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}
