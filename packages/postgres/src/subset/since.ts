import { NexusError, parseDuration } from '@nexus-backup/core';

/** Where a `--since` window starts: a span back from the snapshot's `now()`, or a fixed instant. */
export type SinceCutoff =
  | {
      kind: 'ago' /** A PostgreSQL interval we wrote ourselves, e.g. `3 weeks`. */;
      interval: string;
      text: string;
    }
  | { kind: 'instant' /** ISO 8601 in UTC. */; at: string; text: string };

export const SINCE_FORMS =
  'a duration ("1 day", "2 hours", "3 weeks", "90 minutes", or 7d, 26h), a date (2024-01-01), ' +
  'a date and time ("2024-01-01 12:00", UTC unless it ends with an offset: Z, +02:00 or -0500) or ISO 8601 (2024-01-01T12:00:00Z); zone names such as CET are not read';

const UNITS: Record<string, string> = {
  s: 'seconds',
  sec: 'seconds',
  secs: 'seconds',
  second: 'seconds',
  seconds: 'seconds',
  min: 'minutes',
  mins: 'minutes',
  minute: 'minutes',
  minutes: 'minutes',
  h: 'hours',
  hr: 'hours',
  hrs: 'hours',
  hour: 'hours',
  hours: 'hours',
  d: 'days',
  day: 'days',
  days: 'days',
  w: 'weeks',
  week: 'weeks',
  weeks: 'weeks',
  mon: 'months',
  month: 'months',
  months: 'months',
  y: 'years',
  year: 'years',
  years: 'years',
};

const SPELLED_DURATION = /^(\d+)\s*([a-z]+)(?:[\s,]+(\d+)\s*([a-z]+))*$/i;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Parses `--since`; anything that is not one of SINCE_FORMS is a usage error naming them. */
export function parseSince(input: string): SinceCutoff {
  const text = input.trim();
  const interval = spelledInterval(text) ?? compactInterval(text);
  if (interval !== undefined) {
    // now() minus a longer span leaves PostgreSQL's timestamp range: a failed dump instead of a usage error.
    if (approximateYears(interval) > MAX_SINCE_YEARS) {
      throw new NexusError('USAGE', `--since "${text}" reaches back more than ${MAX_SINCE_YEARS} years`, {
        provider: 'postgres',
        hint: 'leave --since out to back up every row, or give a date (2024-01-01)',
      });
    }
    return { kind: 'ago', interval, text };
  }
  const at = instant(text);
  if (at !== undefined) return { kind: 'instant', at, text };
  throw new NexusError('USAGE', `--since "${input}" is neither a duration nor a date`, {
    provider: 'postgres',
    hint: `use ${SINCE_FORMS}`,
  });
}

const MAX_SINCE_YEARS = 1000;
const YEARS_PER_UNIT: Record<string, number> = {
  seconds: 1 / 31_557_600,
  minutes: 1 / 525_960,
  hours: 1 / 8766,
  days: 1 / 365.25,
  weeks: 7 / 365.25,
  months: 1 / 12,
  years: 1,
};

/** The span of an interval we wrote (`3 years 2 months ...`), roughly, in years. */
function approximateYears(interval: string): number {
  let years = 0;
  for (const [, amount, unit] of interval.matchAll(/(\d+) ([a-z]+)/g))
    years += Number(amount) * (YEARS_PER_UNIT[unit as string] ?? 0);
  return years;
}

/** `1 day`, `2 hours`, `1 day 12 hours`: each group a whole number and a unit we know. */
function spelledInterval(text: string): string | undefined {
  if (!SPELLED_DURATION.test(text)) return undefined;
  const parts: string[] = [];
  for (const match of text.matchAll(/(\d+)\s*([a-z]+)/gi)) {
    const unit = UNITS[(match[2] ?? '').toLowerCase()];
    const amount = Number(match[1]);
    if (unit === undefined || !Number.isSafeInteger(amount)) return undefined;
    parts.push(`${amount} ${unit}`);
  }
  return parts.length > 0 && parts.some((part) => !part.startsWith('0 ')) ? parts.join(' ') : undefined;
}

/** The compact forms the rest of the tool uses (`7d`, `26h`, `1y2m`), through core's parser. */
function compactInterval(text: string): string | undefined {
  if (!/^\d+[a-z]/i.test(text) || /\s/.test(text)) return undefined;
  try {
    const d = parseDuration(text);
    return `${d.years} years ${d.months} months ${d.weeks * 7 + d.days} days ${d.hours} hours ${d.minutes} minutes ${d.seconds} seconds`;
  } catch {
    return undefined;
  }
}

function instant(text: string): string | undefined {
  const date = DATE.exec(text);
  const dateTime = date ? undefined : DATE_TIME.exec(text);
  const match = date ?? dateTime;
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(match[i] ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const fraction = dateTime?.[7] ?? '';
  const zone = dateTime?.[8]?.toUpperCase() ?? 'Z';
  const utc = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(utc);
  // Date.UTC rolls 2024-02-30 over to March; a date that does not exist is a typo, not a wish.
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return undefined;
  }
  const offsetMinutes = zone === 'Z' ? 0 : zoneMinutes(zone);
  if (offsetMinutes === undefined) return undefined;
  const milliseconds = fraction === '' ? 0 : Math.floor(Number(`0${fraction}`) * 1000);
  return new Date(utc + milliseconds - offsetMinutes * 60_000).toISOString();
}

function zoneMinutes(zone: string): number | undefined {
  const match = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
  if (!match) return undefined;
  const hours = Number(match[2]);
  const minutes = Number(match[3] ?? 0);
  if (hours > 14 || minutes > 59) return undefined;
  return (match[1] === '-' ? -1 : 1) * (hours * 60 + minutes);
}
