import { NexusError } from './errors.js';

/**
 * A duration as calendar components, so `1m` back from March 31 lands on the last day of February's
 * overflow exactly as restic's (Go's `AddDate`) arithmetic does.
 *
 * Grammar: one or more `<whole number><unit>` groups, largest unit first, each unit at most once, no
 * spaces: `y` years, `m` or `mo` months (restic's meaning of `m`), `w` weeks, `d` days, `h` hours,
 * `min` minutes, `s` seconds. Examples: `30s`, `90min`, `26h`, `7d`, `2w`, `6m`, `1y2m3d`.
 * Minutes are always `min`: `m` means months as in restic, so `90m` is 90 months, never 90 minutes.
 */
export interface Duration {
  years: number;
  months: number;
  weeks: number;
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
  /** The text as written (trimmed), used in messages and retention reasons. */
  text: string;
}

type Component = Exclude<keyof Duration, 'text'>;

export const DURATION_FORMS =
  'a whole number and a unit, largest unit first: y (years), m or mo (months), w (weeks), d (days), ' +
  'h (hours), min (minutes), s (seconds); e.g. 30s, 90min, 26h, 7d, 2w, 1y2m3d';

/** Units in the order they must appear. */
const UNITS: readonly { names: readonly string[]; component: Component }[] = [
  { names: ['y'], component: 'years' },
  { names: ['m', 'mo'], component: 'months' },
  { names: ['w'], component: 'weeks' },
  { names: ['d'], component: 'days' },
  { names: ['h'], component: 'hours' },
  { names: ['min'], component: 'minutes' },
  { names: ['s'], component: 'seconds' },
];

const SECOND = 1000;
const FIXED_MS: Record<Exclude<Component, 'years' | 'months'>, number> = {
  weeks: 7 * 24 * 3600 * SECOND,
  days: 24 * 3600 * SECOND,
  hours: 3600 * SECOND,
  minutes: 60 * SECOND,
  seconds: SECOND,
};

/**
 * Units of a short age (WAL archiving lag, `check --max-wal-age 15m`): nobody means months there, so
 * `m` is minutes, as in Prometheus and most monitoring tools; years and months are not accepted.
 */
const CLOCK_UNITS: readonly { names: readonly string[]; component: Component }[] = [
  { names: ['w'], component: 'weeks' },
  { names: ['d'], component: 'days' },
  { names: ['h'], component: 'hours' },
  { names: ['m', 'min'], component: 'minutes' },
  { names: ['s'], component: 'seconds' },
];

export const CLOCK_DURATION_FORMS =
  'a whole number and a unit, largest unit first: w (weeks), d (days), h (hours), m or min (minutes), ' +
  's (seconds); e.g. 30s, 15m, 2h30m, 1d';

/** Parses `1y2m3d`-style text; throws NexusError USAGE naming the accepted forms. */
export function parseDuration(input: string): Duration {
  return parseWithUnits(input, UNITS, DURATION_FORMS);
}

/**
 * Milliseconds of a short age where `m` means minutes (`15m`, `2h30m`): for lags measured in minutes
 * such as WAL archiving, unlike retention durations where `m` is restic's months.
 */
export function parseClockDurationMs(input: string): number {
  return durationMs(parseWithUnits(input, CLOCK_UNITS, CLOCK_DURATION_FORMS));
}

function parseWithUnits(input: string, units: typeof UNITS, forms: string): Duration {
  const text = input.trim();
  const fail = (problem: string): never => {
    throw new NexusError('USAGE', `invalid duration "${text}": ${problem}; use ${forms}`);
  };
  if (text === '') fail('it is empty');
  const duration: Duration = {
    years: 0,
    months: 0,
    weeks: 0,
    days: 0,
    hours: 0,
    minutes: 0,
    seconds: 0,
    text,
  };
  const group = /(\d+)([a-zA-Z]*)/y;
  let nextUnit = 0;
  while (group.lastIndex < text.length) {
    const at = group.lastIndex;
    const match = group.exec(text);
    if (!match) fail(unexpected(text.slice(at)));
    const [, digits = '', unit = ''] = match as RegExpExecArray;
    if (unit === '') {
      fail(
        group.lastIndex === text.length ? `"${digits}" has no unit` : unexpected(text.slice(group.lastIndex)),
      );
    }
    const index = units.findIndex((candidate) => candidate.names.includes(unit));
    if (index === -1) fail(`unknown unit "${unit}"`);
    if (index < nextUnit) fail('units must go from largest to smallest, each at most once');
    const value = Number(digits);
    if (!Number.isSafeInteger(value)) fail(`${digits} is too large`);
    duration[units[index]!.component] = value;
    nextUnit = index + 1;
  }
  if (UNITS.every(({ component }) => duration[component] === 0)) fail('it is zero');
  return duration;
}

function unexpected(rest: string): string {
  return /^\d*[.,]\d/.test(rest) ? 'use whole numbers (e.g. 1d12h instead of 1.5d)' : `unexpected "${rest}"`;
}

/**
 * Milliseconds of a duration made only of fixed-length units (w, d, h, min, s; a day is 24 h since
 * everything runs in UTC). Months and years have no fixed length, and refusing them here also catches
 * `1m` written by someone who meant one minute.
 */
export function durationMs(duration: Duration): number {
  if (duration.years !== 0 || duration.months !== 0) {
    throw new NexusError(
      'USAGE',
      `invalid duration "${duration.text}": years and months (y, m) have no fixed length here; ` +
        'use w, d, h, min or s (minutes are "min", e.g. 90min)',
    );
  }
  return (Object.keys(FIXED_MS) as (keyof typeof FIXED_MS)[]).reduce(
    (total, component) => total + duration[component] * FIXED_MS[component],
    0,
  );
}

/** `parseDuration` then `durationMs`: for ages and intervals such as `check.maxAge: 26h`. */
export function parseDurationMs(input: string): number {
  return durationMs(parseDuration(input));
}

/**
 * The instant `duration` before `from`, in UTC calendar arithmetic: years, months, weeks and days move
 * the date (overflowing like Go's `AddDate`: March 31 minus 1m is March 3 or 2), then the clock units
 * are subtracted as fixed lengths, exactly the order restic uses.
 */
export function subtractDuration(from: Date, duration: Duration): Date {
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 19xx.
  const calendar = new Date(from.getTime());
  calendar.setUTCFullYear(
    from.getUTCFullYear() - duration.years,
    from.getUTCMonth() - duration.months,
    from.getUTCDate() - duration.days - 7 * duration.weeks,
  );
  const clock =
    duration.hours * FIXED_MS.hours + duration.minutes * FIXED_MS.minutes + duration.seconds * SECOND;
  return new Date(calendar.getTime() - clock);
}
