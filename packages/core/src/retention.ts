import { type Duration, parseDuration, subtractDuration } from './duration.js';
import { NexusError } from './errors.js';
import { kebabCase } from './options.js';

/**
 * Restic's `forget` policy. Counts keep the newest backup of each of the N newest periods (hours, days,
 * ISO weeks, months, years) that have a backup; -1 keeps one per period without limit. `keepWithin`
 * keeps everything within a duration back from the newest backup; `keepWithin<Period>` keeps the
 * newest backup of each period within a duration (for irregular schedules).
 *
 * Periods are UTC, where restic uses local time: backup ids and manifests are UTC, servers and
 * containers disagree about their zone, and UTC has no DST hour that happens twice or never.
 */
export interface RetentionPolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepWithin?: Duration;
  keepWithinHourly?: Duration;
  keepWithinDaily?: Duration;
  keepWithinWeekly?: Duration;
  keepWithinMonthly?: Duration;
  keepWithinYearly?: Duration;
}

export interface RetentionCandidate {
  id: string;
  time: Date;
  /** False when the backup has no manifest.json (a crashed or still running backup). */
  complete: boolean;
}

export interface RetentionDecision extends RetentionCandidate {
  action: 'keep' | 'remove';
  /** Every reason the backup is kept, e.g. `keep-last 1`, `keep-daily 2026-11-25`; why it goes if removed. */
  reasons: string[];
}

export interface RetentionOptions {
  /** Incomplete backups younger than this may still be running and are kept. Default 24 h. */
  incompleteGraceMs?: number;
}

type Period = 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';
type CountRule = 'keepLast' | `keep${Capitalize<Period>}`;
type WithinRule = 'keepWithin' | `keepWithin${Capitalize<Period>}`;

/** Every policy key, in the order rules are evaluated and reasons listed. */
export const RETENTION_COUNT_RULES: readonly CountRule[] = [
  'keepLast',
  'keepHourly',
  'keepDaily',
  'keepWeekly',
  'keepMonthly',
  'keepYearly',
];
export const RETENTION_WITHIN_RULES: readonly WithinRule[] = [
  'keepWithin',
  'keepWithinHourly',
  'keepWithinDaily',
  'keepWithinWeekly',
  'keepWithinMonthly',
  'keepWithinYearly',
];

const PERIODS: readonly Period[] = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'];
const DEFAULT_INCOMPLETE_GRACE_MS = 24 * 3600 * 1000;

const EMPTY_POLICY_MESSAGE =
  'the retention policy keeps nothing, which would remove every backup; set at least one of ' +
  `${RETENTION_COUNT_RULES.map((rule) => `--${kebabCase(rule)} N`).join(', ')}, --keep-within DURATION or ` +
  '--keep-within-{hourly,daily,weekly,monthly,yearly} DURATION (in a config file: retention: { keepDaily: 7, ... })';

/**
 * Which backups a policy keeps, restic's algorithm: backups are visited newest first; each count rule
 * keeps a backup when it opens a period not seen yet and the rule has count left, and also keeps the
 * oldest backup while count is left (restic's "oldest" rule, which keeps the longest history).
 * Incomplete backups are never counted: they are kept during `incompleteGraceMs`, then removed.
 * The newest complete backup is always kept. Decisions come back oldest first, ties by id.
 */
export function decideRetention(
  backups: readonly RetentionCandidate[],
  policy: RetentionPolicy,
  now: Date,
  options: RetentionOptions = {},
): RetentionDecision[] {
  checkPolicy(policy);
  const seen = new Set<string>();
  for (const backup of backups) {
    if (seen.has(backup.id)) throw new NexusError('INTERNAL', `backup ${backup.id} is listed twice`);
    if (Number.isNaN(backup.time.getTime()))
      throw new NexusError('INTERNAL', `backup ${backup.id} has no valid time`);
    seen.add(backup.id);
  }
  const newestFirst = [...backups].sort(
    (a, b) => b.time.getTime() - a.time.getTime() || compareIds(b.id, a.id),
  );
  const complete = newestFirst.filter((backup) => backup.complete);
  const reasons = new Map<string, string[]>(newestFirst.map((backup) => [backup.id, []]));

  applyCountRules(complete, policy, reasons);
  applyWithinRules(complete, policy, now, reasons);
  const newest = complete[0];
  // Unreachable with a non-empty policy (every rule keeps the newest); a guard against future rules.
  if (newest && reasons.get(newest.id)!.length === 0) reasons.get(newest.id)!.push('newest complete backup');

  const grace = options.incompleteGraceMs ?? DEFAULT_INCOMPLETE_GRACE_MS;
  return newestFirst.reverse().map((backup) => {
    // Only the three known fields: callers may pass richer objects (manifests) that must not leak into --json.
    const { id, time, complete } = backup;
    if (!complete) return decideIncomplete({ id, time, complete }, now, grace);
    const kept = reasons.get(id)!;
    return { id, time, complete, action: kept.length > 0 ? 'keep' : 'remove', reasons: kept };
  });
}

function applyCountRules(
  newestFirst: RetentionCandidate[],
  policy: RetentionPolicy,
  reasons: Map<string, string[]>,
) {
  for (const rule of RETENTION_COUNT_RULES) {
    let left = policy[rule] ?? 0;
    let lastPeriod: string | undefined;
    newestFirst.forEach((backup, index) => {
      if (left === 0) return;
      const period = rule === 'keepLast' ? String(index + 1) : periodOf(periodOfRule(rule), backup.time);
      const oldest = index === newestFirst.length - 1;
      if (period === lastPeriod && !oldest) return;
      reasons.get(backup.id)!.push(`${kebabCase(rule)} ${period}${period === lastPeriod ? ' (oldest)' : ''}`);
      lastPeriod = period;
      if (left > 0) left -= 1;
    });
  }
}

function applyWithinRules(
  newestFirst: RetentionCandidate[],
  policy: RetentionPolicy,
  now: Date,
  reasons: Map<string, string[]>,
) {
  // Like restic, backups dated in the future do not move the reference point (they are kept anyway).
  const reference = newestFirst.find((backup) => backup.time.getTime() <= now.getTime())?.time;
  for (const rule of RETENTION_WITHIN_RULES) {
    const duration = policy[rule];
    if (!duration) continue;
    const cutoff = reference ? subtractDuration(reference, duration).getTime() : Number.NEGATIVE_INFINITY;
    let lastPeriod: string | undefined;
    for (const backup of newestFirst) {
      if (backup.time.getTime() <= cutoff) break;
      if (rule === 'keepWithin') {
        reasons.get(backup.id)!.push(`keep-within ${duration.text}`);
        continue;
      }
      const period = periodOf(periodOfRule(rule), backup.time);
      if (period === lastPeriod) continue;
      reasons.get(backup.id)!.push(`${kebabCase(rule)} ${duration.text} ${period}`);
      lastPeriod = period;
    }
  }
}

function decideIncomplete(backup: RetentionCandidate, now: Date, graceMs: number): RetentionDecision {
  const age = now.getTime() - backup.time.getTime();
  const grace = formatHours(graceMs);
  return age < graceMs
    ? { ...backup, action: 'keep', reasons: [`incomplete, younger than ${grace}: may still be running`] }
    : { ...backup, action: 'remove', reasons: [`incomplete (no manifest.json), older than ${grace}`] };
}

function formatHours(ms: number): string {
  const hours = ms / 3600_000;
  return Number.isInteger(hours) ? `${hours}h` : `${Math.round(ms / 60_000)}min`;
}

function periodOfRule(rule: Exclude<CountRule, 'keepLast'> | Exclude<WithinRule, 'keepWithin'>): Period {
  const period = rule.replace(/^keep(Within)?/, '').toLowerCase();
  return PERIODS.find((candidate) => candidate === period)!;
}

/** The period label a backup falls in, in UTC: `2026-11-25T05`, `2026-11-25`, `2026-W48`, `2026-11`, `2026`. */
function periodOf(period: Period, time: Date): string {
  const iso = time.toISOString();
  switch (period) {
    case 'hourly':
      return iso.slice(0, 13);
    case 'daily':
      return iso.slice(0, 10);
    case 'monthly':
      return iso.slice(0, 7);
    case 'yearly':
      return iso.slice(0, 4);
    case 'weekly':
      return isoWeek(time);
  }
}

/** ISO 8601 week (Monday to Sunday; week 1 holds the year's first Thursday), e.g. `2026-W01`. */
function isoWeek(time: Date): string {
  const day = new Date(Date.UTC(time.getUTCFullYear(), time.getUTCMonth(), time.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday); // the Thursday of this week decides its year
  const year = day.getUTCFullYear();
  const week = Math.ceil(((day.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 + 1) / 7);
  return `${year}-W${String(week).padStart(2, '0')}`;
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Rejects a policy that keeps nothing (restic refuses it too) or has counts other than N >= 0 or -1. */
export function checkPolicy(policy: RetentionPolicy): void {
  for (const rule of RETENTION_COUNT_RULES) {
    const count = policy[rule];
    if (count !== undefined && !(Number.isSafeInteger(count) && count >= -1)) {
      throw new NexusError('USAGE', `--${kebabCase(rule)} must be a whole number >= 0, or -1 for unlimited`);
    }
  }
  const keepsSomething =
    RETENTION_COUNT_RULES.some((rule) => (policy[rule] ?? 0) !== 0) ||
    RETENTION_WITHIN_RULES.some((rule) => policy[rule] !== undefined);
  if (!keepsSomething) throw new NexusError('USAGE', EMPTY_POLICY_MESSAGE);
}

/**
 * One policy value from a flag or a config key: counts accept integers, numeric strings and
 * `unlimited` (= -1); durations use `parseDuration`. Throws NexusError USAGE whose message says what
 * is wrong without naming where (callers prefix the flag or key path).
 */
export function parseRetentionValue(rule: CountRule | WithinRule, value: unknown): number | Duration {
  if ((RETENTION_WITHIN_RULES as readonly string[]).includes(rule)) {
    if (typeof value !== 'string')
      throw new NexusError('USAGE', `must be a duration like 7d or 1y6m, got ${show(value)}`);
    return parseDuration(value);
  }
  const count =
    value === 'unlimited' ? -1 : typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < -1) {
    throw new NexusError(
      'USAGE',
      `must be a whole number >= 0, or -1 / unlimited to keep all, got ${show(value)}`,
    );
  }
  return count;
}

export function isRetentionRule(key: string): key is CountRule | WithinRule {
  return (
    (RETENTION_COUNT_RULES as readonly string[]).includes(key) ||
    (RETENTION_WITHIN_RULES as readonly string[]).includes(key)
  );
}

/**
 * A policy from CLI flag values (`{ keepDaily: '7', keepWithin: '2d' }`, camelCase keys, undefined
 * skipped). Errors name the flag. The result is checked: an empty policy is refused.
 */
export function retentionPolicyFromFlags(values: Record<string, unknown>): RetentionPolicy {
  const policy: Record<string, number | Duration> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (!isRetentionRule(key)) throw new NexusError('USAGE', `unknown retention flag --${kebabCase(key)}`);
    try {
      policy[key] = parseRetentionValue(key, value);
    } catch (error) {
      throw new NexusError('USAGE', `--${kebabCase(key)} ${(error as Error).message}`, { cause: error });
    }
  }
  checkPolicy(policy);
  return policy;
}

function show(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : (JSON.stringify(value) ?? String(value));
}

/** The `prune --dry-run` table: one row per backup, oldest first, then a count of keeps and removes. */
export function formatRetentionTable(decisions: readonly RetentionDecision[]): string {
  const rows = decisions.map((decision) => [
    decision.id,
    decision.time
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d{3}Z$/, 'Z'),
    decision.action,
    decision.reasons.join(', ') || '-',
  ]);
  const header = ['ID', 'TIME (UTC)', 'ACTION', 'REASONS'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  const kept = decisions.filter((decision) => decision.action === 'keep').length;
  return [line(header), ...rows.map(line), `keep ${kept}, remove ${decisions.length - kept}`].join('\n');
}
