import {
  durationMs,
  NexusError,
  parseClockDurationMs,
  parseDuration,
  parseDurationMs,
  subtractDuration,
} from '@nexus-backup/core';
import { describe, expect, it } from 'vitest';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

describe('parseDuration', () => {
  it.each([
    ['30s', { seconds: 30 }],
    ['90min', { minutes: 90 }],
    ['26h', { hours: 26 }],
    ['7d', { days: 7 }],
    ['2w', { weeks: 2 }],
    ['6m', { months: 6 }],
    ['6mo', { months: 6 }],
    ['1y2m3d', { years: 1, months: 2, days: 3 }],
    ['2y5m7d3h', { years: 2, months: 5, days: 7, hours: 3 }],
    ['1d12h30min15s', { days: 1, hours: 12, minutes: 30, seconds: 15 }],
    ['  7d ', { days: 7 }],
  ])('reads %j into calendar components', (text, components) => {
    const zero = { years: 0, months: 0, weeks: 0, days: 0, hours: 0, minutes: 0, seconds: 0 };
    expect(parseDuration(text)).toEqual({ ...zero, ...components, text: text.trim() });
  });

  it('reads m as months like restic, so 90m is never 90 minutes', () => {
    expect(parseDuration('90m')).toMatchObject({ months: 90, minutes: 0 });
  });

  it.each([
    ['', /it is empty/],
    ['30', /"30" has no unit/],
    ['5x', /unknown unit "x"/],
    ['1.5d', /whole numbers/],
    ['2h1d', /largest to smallest/],
    ['1d1d', /largest to smallest/],
    ['0d', /it is zero/],
    ['-1d', /unexpected "-1d"/],
    ['1 d', /unexpected " d"/],
    ['7D', /unknown unit "D"/],
    ['99999999999999999999d', /too large/],
  ])('refuses %j with a usage error naming the accepted forms', (text, problem) => {
    let error: unknown;
    try {
      parseDuration(text);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(NexusError);
    expect((error as NexusError).code).toBe('USAGE');
    expect((error as NexusError).message).toMatch(problem);
    expect((error as NexusError).message).toContain('min (minutes)');
  });
});

describe('durationMs', () => {
  it.each([
    ['30s', 30_000],
    ['90min', 90 * 60_000],
    ['26h', 26 * HOUR],
    ['2w', 14 * DAY],
    ['1d12h', 36 * HOUR],
  ])('gives %s as %d ms', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it('refuses months and years, which have no fixed length, and says minutes are min', () => {
    expect(() => parseDurationMs('1m')).toThrow(/no fixed length.*"min"/);
    expect(() => durationMs(parseDuration('1y'))).toThrow(NexusError);
  });
});

describe('parseClockDurationMs (ages in minutes: check --max-wal-age)', () => {
  it.each([
    ['15m', 15 * 60_000],
    ['15min', 15 * 60_000],
    ['2h30m', 150 * 60_000],
    ['26h', 26 * HOUR],
    ['1d', DAY],
    ['45s', 45_000],
  ])('gives %s as %d ms (m is minutes here)', (text, ms) => {
    expect(parseClockDurationMs(text)).toBe(ms);
  });

  it('refuses months and years, naming the units it takes', () => {
    expect(() => parseClockDurationMs('1mo')).toThrow(/unknown unit "mo".*m or min \(minutes\)/);
    expect(() => parseClockDurationMs('1y')).toThrow(/unknown unit "y"/);
  });
});

describe('subtractDuration', () => {
  const at = (iso: string) => new Date(iso);

  it('moves calendar units on the UTC calendar and clock units as fixed lengths', () => {
    expect(subtractDuration(at('2026-11-26T05:00:00Z'), parseDuration('1y2m3d4h'))).toEqual(
      at('2025-09-23T01:00:00Z'),
    );
    expect(subtractDuration(at('2026-03-01T00:30:00Z'), parseDuration('1h'))).toEqual(
      at('2026-02-28T23:30:00Z'),
    );
    expect(subtractDuration(at('2026-11-26T00:00:00Z'), parseDuration('2w'))).toEqual(
      at('2026-11-12T00:00:00Z'),
    );
  });

  it('overflows a missing day of month the way Go AddDate (and so restic) does', () => {
    // 2026-03-31 minus one month is "February 31", which normalises to March 3.
    expect(subtractDuration(at('2026-03-31T12:00:00Z'), parseDuration('1m'))).toEqual(
      at('2026-03-03T12:00:00Z'),
    );
  });

  it('handles durations reaching back before year 100', () => {
    expect(subtractDuration(at('2026-01-01T00:00:00Z'), parseDuration('2000y')).getUTCFullYear()).toBe(26);
  });
});
