import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { isHindsightError } from '../../../src/core/errors.ts';
import { formatDuration, formatMoment, parseDuration, parseMoment } from '../../../src/core/time-text.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

/** A fixed "now": 2026-11-22 12:00:00 UTC. */
const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);

function refusesDuration(text: string): void {
  assert.throws(
    () => parseDuration(text),
    (err) => isHindsightError(err, 'E_DURATION_INVALID') && err.hint !== undefined,
    `expected "${text}" to be refused`,
  );
}

function refusesMoment(text: string): void {
  assert.throws(
    () => parseMoment(text, NOW),
    (err) => isHindsightError(err, 'E_TIME_INVALID') && err.hint !== undefined,
    `expected "${text}" to be refused`,
  );
}

/** runUnderZone evaluates `expression` (with the module's exports in scope) in a child process with TZ set. */
function runUnderZone(zone: string, expression: string): unknown {
  const moduleUrl = new URL('../../../src/core/time-text.ts', import.meta.url).href;
  const script =
    `import { formatMoment, parseMoment } from ${JSON.stringify(moduleUrl)};\n` +
    `console.log(JSON.stringify(${expression}));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, TZ: zone },
    encoding: 'utf8',
  });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout);
}

describe('parseDuration', () => {
  it('reads every single unit', () => {
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('90s'), 90 * SECOND);
    assert.equal(parseDuration('30m'), 30 * MINUTE);
    assert.equal(parseDuration('4h'), 4 * HOUR);
    assert.equal(parseDuration('7d'), 7 * DAY);
    assert.equal(parseDuration('2w'), 2 * WEEK);
    assert.equal(parseDuration('0s'), 0);
  });

  it('reads combinations largest unit first', () => {
    assert.equal(parseDuration('1h30m'), HOUR + 30 * MINUTE);
    assert.equal(parseDuration('1d12h'), DAY + 12 * HOUR);
    assert.equal(parseDuration('1w2d3h4m5s6ms'), WEEK + 2 * DAY + 3 * HOUR + 4 * MINUTE + 5 * SECOND + 6);
    assert.equal(parseDuration('1m500ms'), MINUTE + 500);
    assert.equal(parseDuration('1h 30m'), HOUR + 30 * MINUTE);
  });

  it('reads fractions, case and surrounding spaces', () => {
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('1.5h'), 90 * MINUTE);
    assert.equal(parseDuration('  4H '), 4 * HOUR);
    assert.equal(parseDuration('1H30M'), HOUR + 30 * MINUTE);
    assert.equal(parseDuration('500MS'), 500);
  });

  it('refuses a bare number other than 0, with a hint naming units', () => {
    assert.throws(
      () => parseDuration('15'),
      (err) => isHindsightError(err, 'E_DURATION_INVALID') && /30m.*4h.*7d/.test(err.hint ?? ''),
    );
    refusesDuration('1.5');
  });

  it('refuses empty, negative, garbage, repeated or disordered units, and overflow', () => {
    for (const text of [
      '',
      '   ',
      '-5m',
      '-0s',
      'abc',
      '5x',
      '5 minutes',
      'm',
      '1h1h',
      '30m1h',
      '1.s',
      '5m-',
    ]) {
      refusesDuration(text);
    }
    refusesDuration(`${Number.MAX_SAFE_INTEGER}ms1`);
    refusesDuration(`${Number.MAX_SAFE_INTEGER + 1}ms`);
    refusesDuration(`${'9'.repeat(400)}w`);
    assert.equal(parseDuration(`${Number.MAX_SAFE_INTEGER}ms`), Number.MAX_SAFE_INTEGER);
  });
});

describe('formatDuration', () => {
  it('writes at most two units, largest first', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(250), '250ms');
    assert.equal(formatDuration(1000), '1s');
    assert.equal(formatDuration(1500), '1.5s');
    assert.equal(formatDuration(45 * SECOND), '45s');
    assert.equal(formatDuration(90 * SECOND), '1m30s');
    assert.equal(formatDuration(4 * HOUR), '4h');
    assert.equal(formatDuration(26 * HOUR), '1d2h');
    assert.equal(formatDuration(30 * DAY), '30d');
    assert.equal(formatDuration(DAY + 5 * MINUTE), '1d');
  });

  it('rounds to the smaller unit shown, carrying into larger ones', () => {
    assert.equal(formatDuration(0.4), '0s');
    assert.equal(formatDuration(999.6), '1s');
    assert.equal(formatDuration(1234), '1.2s');
    assert.equal(formatDuration(9960), '10s');
    assert.equal(formatDuration(12_600), '13s');
    assert.equal(formatDuration(59_600), '1m');
    assert.equal(formatDuration(HOUR + 30 * MINUTE + 40 * SECOND), '1h31m');
    assert.equal(formatDuration(23 * HOUR + 59 * MINUTE + 40 * SECOND), '1d');
  });

  it('writes negatives with a sign and refuses NaN and infinities', () => {
    assert.equal(formatDuration(-90 * SECOND), '-1m30s');
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      assert.throws(
        () => formatDuration(value),
        (err) => isHindsightError(err, 'E_DURATION_INVALID'),
      );
    }
  });

  it('writes text that parseDuration reads back to the shown precision', () => {
    for (const ms of [0, 250, 1500, 45 * SECOND, 90 * SECOND, 4 * HOUR, 26 * HOUR, 30 * DAY]) {
      assert.equal(parseDuration(formatDuration(ms)), ms);
    }
  });
});

describe('parseMoment', () => {
  it('reads ISO-8601 with a zone', () => {
    assert.equal(parseMoment('2026-11-22T14:03:05Z', NOW), Date.UTC(2026, 10, 22, 14, 3, 5));
    assert.equal(parseMoment('2026-11-22t14:03:05z', NOW), Date.UTC(2026, 10, 22, 14, 3, 5));
    assert.equal(parseMoment('2026-11-22T14:03:05+01:00', NOW), Date.UTC(2026, 10, 22, 13, 3, 5));
    assert.equal(parseMoment('2026-11-22T14:03:05-05:30', NOW), Date.UTC(2026, 10, 22, 19, 33, 5));
    assert.equal(parseMoment('2026-11-22T14:03:05+0100', NOW), Date.UTC(2026, 10, 22, 13, 3, 5));
    assert.equal(parseMoment('2026-11-22T14:03:05+01', NOW), Date.UTC(2026, 10, 22, 13, 3, 5));
    assert.equal(parseMoment('2026-11-22T14:03Z', NOW), Date.UTC(2026, 10, 22, 14, 3));
    assert.equal(parseMoment('2026-11-22 14:03:05 +01:00', NOW), Date.UTC(2026, 10, 22, 13, 3, 5));
  });

  it('reads fractional seconds, keeping milliseconds', () => {
    assert.equal(parseMoment('2026-11-22T14:03:05.12Z', NOW), Date.UTC(2026, 10, 22, 14, 3, 5, 120));
    assert.equal(parseMoment('2026-11-22T14:03:05.123456789Z', NOW), Date.UTC(2026, 10, 22, 14, 3, 5, 123));
    assert.equal(parseMoment('2026-11-22T14:03:05,5Z', NOW), Date.UTC(2026, 10, 22, 14, 3, 5, 500));
  });

  it('reads text without a zone as local time', () => {
    assert.equal(parseMoment('2026-11-22T14:03:05', NOW), new Date(2026, 10, 22, 14, 3, 5).getTime());
    assert.equal(
      parseMoment('2026-11-22T14:03:05.250', NOW),
      new Date(2026, 10, 22, 14, 3, 5, 250).getTime(),
    );
    assert.equal(parseMoment('2026-11-22 14:03', NOW), new Date(2026, 10, 22, 14, 3).getTime());
    assert.equal(parseMoment('2026-11-22', NOW), new Date(2026, 10, 22).getTime());
    assert.equal(parseMoment('2024-02-29', NOW), new Date(2024, 1, 29).getTime());
  });

  it('reads a time of day as today, local, even when later than now', () => {
    const today = new Date(NOW);
    const at = (h: number, m: number, s = 0) =>
      new Date(today.getFullYear(), today.getMonth(), today.getDate(), h, m, s).getTime();
    assert.equal(parseMoment('14:03', NOW), at(14, 3));
    assert.equal(parseMoment('14:03:05', NOW), at(14, 3, 5));
    assert.equal(parseMoment('00:00', NOW), at(0, 0));
    assert.equal(parseMoment('23:59:59', NOW), at(23, 59, 59));
    assert.ok(parseMoment('23:59:59', NOW) > NOW || today.getHours() === 23);
  });

  it('reads relative forms against now', () => {
    assert.equal(parseMoment('now', NOW), NOW);
    assert.equal(parseMoment(' NOW ', NOW), NOW);
    assert.equal(parseMoment('-10m', NOW), NOW - 10 * MINUTE);
    assert.equal(parseMoment('-2h30m', NOW), NOW - 2 * HOUR - 30 * MINUTE);
    assert.equal(parseMoment('+5m', NOW), NOW + 5 * MINUTE);
    assert.equal(parseMoment('- 1d', NOW), NOW - DAY);
    assert.equal(parseMoment('10 minutes ago', NOW), NOW - 10 * MINUTE);
    assert.equal(parseMoment('2 hours ago', NOW), NOW - 2 * HOUR);
    assert.equal(parseMoment('1 day ago', NOW), NOW - DAY);
    assert.equal(parseMoment('3 days ago', NOW), NOW - 3 * DAY);
    assert.equal(parseMoment('30 seconds ago', NOW), NOW - 30 * SECOND);
    assert.equal(parseMoment('1 week ago', NOW), NOW - WEEK);
    assert.equal(parseMoment('1 Hour Ago', NOW), NOW - HOUR);
    assert.equal(parseMoment('1h30m ago', NOW), NOW - 90 * MINUTE);
  });

  it('reads every unit word and short form', () => {
    const units: [string[], number][] = [
      [['s', 'sec', 'secs', 'second', 'seconds'], SECOND],
      [['m', 'min', 'mins', 'minute', 'minutes'], MINUTE],
      [['h', 'hour', 'hours'], HOUR],
      [['d', 'day', 'days'], DAY],
      [['w', 'week', 'weeks'], WEEK],
    ];
    for (const [words, unitMs] of units) {
      for (const word of words) {
        assert.equal(parseMoment(`2 ${word} ago`, NOW), NOW - 2 * unitMs, word);
        assert.equal(parseMoment(`2${word} ago`, NOW), NOW - 2 * unitMs, word);
      }
    }
  });

  it('reads 12 or more digits as epoch milliseconds', () => {
    assert.equal(parseMoment('1795356185000', NOW), 1795356185000);
    assert.equal(parseMoment('100000000000', NOW), 100000000000);
  });

  it('refuses anything else with a hint', () => {
    const texts = [
      '',
      '  ',
      'garbage',
      '10 parsecs ago',
      '10 constructor ago',
      '2026-13-45',
      '2026-02-30',
      '2025-02-29',
      '2026-11-22T24:00',
      '2026-11-22T14:60',
      '2026-11-22T14:03:60',
      '2026-11-22T14:03+24:00',
      '2026-11-22Z',
      '15',
      '-15',
      '12345678901',
      '25:00',
      'yesterday',
      'ago',
      '-',
      '10 minutes',
      'in 5 minutes',
    ];
    for (const text of texts) refusesMoment(text);
  });

  it('refuses results out of range instead of returning NaN', () => {
    refusesMoment(`${'9'.repeat(20)}`);
    refusesMoment(`-${'9'.repeat(400)}w`);
    assert.throws(
      () => parseMoment('-5m', Number.NaN),
      (err) => isHindsightError(err, 'E_TIME_INVALID'),
    );
  });
});

describe('formatMoment', () => {
  it('writes local time with the zone offset of the process', () => {
    const ms = Date.UTC(2026, 10, 22, 14, 3, 5);
    const date = new Date(ms);
    const text = formatMoment(ms);
    const match = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2}):(\d{2})$/.exec(text);
    assert.ok(match, text);
    assert.deepEqual(match.slice(1, 7).map(Number), [
      date.getFullYear(),
      date.getMonth() + 1,
      date.getDate(),
      date.getHours(),
      date.getMinutes(),
      date.getSeconds(),
    ]);
    const eastMinutes = (match[7] === '-' ? -1 : 1) * (Number(match[8]) * 60 + Number(match[9]));
    assert.equal(eastMinutes + date.getTimezoneOffset(), 0);
  });

  it('shows milliseconds only when not zero', () => {
    assert.match(formatMoment(Date.UTC(2026, 10, 22, 14, 3, 5)), /:05 [+-]\d{2}:\d{2}$/);
    assert.match(formatMoment(Date.UTC(2026, 10, 22, 14, 3, 5, 120)), /:05\.120 [+-]\d{2}:\d{2}$/);
    assert.match(formatMoment(Date.UTC(2026, 10, 22, 14, 3, 5, 7)), /:05\.007 [+-]\d{2}:\d{2}$/);
  });

  it('round-trips through parseMoment, with and without milliseconds', () => {
    const moments = [
      Date.UTC(2026, 10, 22, 14, 3, 5),
      Date.UTC(2026, 10, 22, 14, 3, 5, 120),
      Date.UTC(2026, 6, 1, 0, 0, 0, 1),
      Date.UTC(2000, 0, 1),
      0,
      NOW,
    ];
    for (const ms of moments) assert.equal(parseMoment(formatMoment(ms), NOW), ms, formatMoment(ms));
  });

  it('refuses values Date cannot hold', () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, 8.64e15 + 1]) {
      assert.throws(
        () => formatMoment(value),
        (err) => isHindsightError(err, 'E_TIME_INVALID'),
      );
    }
  });
});

describe('time zones (child processes with TZ set)', () => {
  it('uses Asia/Kolkata (+05:30) for local text', () => {
    const result = runUnderZone(
      'Asia/Kolkata',
      `[formatMoment(${Date.UTC(2026, 10, 22, 8, 33, 5)}), formatMoment(${Date.UTC(2026, 10, 22, 8, 33, 5, 120)}),` +
        ` parseMoment('2026-11-22 14:03:05', 0), parseMoment('2026-11-22', 0), parseMoment('14:03', ${NOW})]`,
    );
    assert.deepEqual(result, [
      '2026-11-22 14:03:05 +05:30',
      '2026-11-22 14:03:05.120 +05:30',
      Date.UTC(2026, 10, 22, 8, 33, 5),
      Date.UTC(2026, 10, 21, 18, 30),
      Date.UTC(2026, 10, 22, 8, 33),
    ]);
  });

  it('follows daylight saving time in Europe/Berlin', () => {
    const summer = Date.UTC(2026, 6, 1, 12, 0, 0);
    const winter = Date.UTC(2026, 0, 15, 12, 0, 0);
    const result = runUnderZone(
      'Europe/Berlin',
      `[formatMoment(${summer}), formatMoment(${winter}),` +
        ` parseMoment('2026-07-01 14:00', 0), parseMoment(formatMoment(${summer}), 0)]`,
    );
    assert.deepEqual(result, ['2026-07-01 14:00:00 +02:00', '2026-01-15 13:00:00 +01:00', summer, summer]);
  });

  it('writes negative offsets in America/New_York', () => {
    const result = runUnderZone('America/New_York', `formatMoment(${Date.UTC(2026, 10, 22, 14, 3, 5)})`);
    assert.equal(result, '2026-11-22 09:03:05 -05:00');
  });
});
