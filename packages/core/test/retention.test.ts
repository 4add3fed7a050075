import {
  decideRetention,
  formatRetentionTable,
  NexusError,
  parseDuration,
  type RetentionCandidate,
  type RetentionDecision,
  type RetentionPolicy,
  retentionPolicyFromFlags,
} from '@nexus-backup/core';
import { describe, expect, it } from 'vitest';

const backup = (id: string, iso: string, complete = true): RetentionCandidate => ({
  id,
  time: new Date(iso),
  complete,
});

function kept(decisions: RetentionDecision[]): string[] {
  return decisions.filter((decision) => decision.action === 'keep').map((decision) => decision.id);
}

function reasonsOf(decisions: RetentionDecision[]): Record<string, string[]> {
  return Object.fromEntries(decisions.map((decision) => [decision.id, decision.reasons]));
}

function thrown(run: () => unknown): NexusError {
  try {
    run();
  } catch (error) {
    if (error instanceof NexusError) return error;
    throw error;
  }
  throw new Error('expected a NexusError');
}

// Newest first: h is a Wednesday (ISO week 48), d the last backup of Sunday 2026-11-22 (week 47).
const SET = [
  backup('y1', '2025-12-31T23:00:00Z'),
  backup('m1', '2026-09-15T02:00:00Z'),
  backup('m2', '2026-10-01T02:00:00Z'),
  backup('m3', '2026-10-31T23:59:00Z'),
  backup('a', '2026-11-20T02:00:00Z'),
  backup('b', '2026-11-21T02:00:00Z'),
  backup('c', '2026-11-22T02:00:00Z'),
  backup('d', '2026-11-22T14:00:00Z'),
  backup('e', '2026-11-23T02:00:00Z'),
  backup('f', '2026-11-24T02:00:00Z'),
  backup('g', '2026-11-24T03:30:00Z'),
  backup('h', '2026-11-25T02:00:00Z'),
];
const NOW = new Date('2026-11-25T12:00:00Z');

describe('decideRetention keeps what restic would keep', () => {
  it.each<[string, RetentionPolicy, string[]]>([
    ['keepLast 3', { keepLast: 3 }, ['f', 'g', 'h']],
    ['keepHourly 2', { keepHourly: 2 }, ['g', 'h']],
    ['keepDaily 3: the newest of each day, f loses to g on the same day', { keepDaily: 3 }, ['e', 'g', 'h']],
    ['keepWeekly 2: ISO weeks, Monday to Sunday', { keepWeekly: 2 }, ['d', 'h']],
    ['keepMonthly 3', { keepMonthly: 3 }, ['m1', 'm3', 'h']],
    ['keepYearly 2', { keepYearly: 2 }, ['y1', 'h']],
    [
      'keepDaily -1: one per day, without limit',
      { keepDaily: -1 },
      ['y1', 'm1', 'm2', 'm3', 'a', 'b', 'd', 'e', 'g', 'h'],
    ],
    ['keepMonthly 10: unused count keeps nothing extra', { keepMonthly: 10 }, ['y1', 'm1', 'm3', 'h']],
    [
      'keepWithin 2d: strictly newer than the newest minus 2d',
      { keepWithin: parseDuration('2d') },
      ['f', 'g', 'h'],
    ],
    [
      'keepWithinDaily 3d: the newest per day inside 3d',
      { keepWithinDaily: parseDuration('3d') },
      ['d', 'e', 'g', 'h'],
    ],
    ['keepWithinMonthly 1y', { keepWithinMonthly: parseDuration('1y') }, ['y1', 'm1', 'm3', 'h']],
    ['rules combine with OR', { keepLast: 1, keepDaily: 2, keepMonthly: 2 }, ['m3', 'g', 'h']],
  ])('%s', (_, policy, expected) => {
    expect(kept(decideRetention(SET, policy, NOW))).toEqual(expected);
  });

  it('lists every reason a backup is kept, with its period', () => {
    const reasons = reasonsOf(
      decideRetention(SET, { keepLast: 1, keepDaily: 2, keepWeekly: 2, keepMonthly: 2 }, NOW),
    );
    expect(reasons.h).toEqual([
      'keep-last 1',
      'keep-daily 2026-11-25',
      'keep-weekly 2026-W48',
      'keep-monthly 2026-11',
    ]);
    expect(reasons.g).toEqual(['keep-daily 2026-11-24']);
    expect(reasons.d).toEqual(['keep-weekly 2026-W47']);
    expect(reasons.m3).toEqual(['keep-monthly 2026-10']);
    expect(reasons.f).toEqual([]);
  });

  it('names hourly and yearly periods and within-rules with their duration', () => {
    const reasons = reasonsOf(
      decideRetention(
        SET,
        {
          keepHourly: 1,
          keepYearly: 2,
          keepWithin: parseDuration('1d'),
          keepWithinDaily: parseDuration('2d'),
        },
        NOW,
      ),
    );
    expect(reasons.h).toEqual([
      'keep-hourly 2026-11-25T02',
      'keep-yearly 2026',
      'keep-within 1d',
      'keep-within-daily 2d 2026-11-25',
    ]);
    expect(reasons.y1).toEqual(['keep-yearly 2025']);
    expect(reasons.g).toEqual(['keep-within 1d', 'keep-within-daily 2d 2026-11-24']);
    expect(reasons.f).toEqual([]);
  });

  it('keeps the oldest backup while a rule has count left, marked (oldest), as restic does', () => {
    const thisYear = SET.filter((candidate) => candidate.id !== 'y1');
    const decisions = decideRetention(thisYear, { keepYearly: 5 }, NOW);
    expect(kept(decisions)).toEqual(['m1', 'h']);
    expect(reasonsOf(decisions).m1).toEqual(['keep-yearly 2026 (oldest)']);
  });

  it("matches restic's documented example: 12 Sunday backups, --keep-daily 4 keeps the last four", () => {
    const sundays = Array.from({ length: 12 }, (_, week) =>
      backup(`s${week}`, new Date(Date.UTC(2019, 8, 1 + 7 * week, 11)).toISOString()),
    );
    const decisions = decideRetention(sundays, { keepDaily: 4 }, new Date('2019-11-20T00:00:00Z'));
    expect(kept(decisions)).toEqual(['s8', 's9', 's10', 's11']);
    expect(decisions.find((decision) => decision.id === 's8')?.time.toISOString()).toBe(
      '2019-10-27T11:00:00.000Z',
    );
  });

  it("matches restic's documented daily/weekly/monthly/yearly accounting for one backup a day", () => {
    // restic: with daily backups, --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --keep-yearly N keeps 7
    // dailies, 4 more weeklies (the dailies hold one), 11 more monthlies, and yearlies not already kept.
    const daily: RetentionCandidate[] = [];
    for (let day = Date.UTC(2023, 0, 1, 2); day <= Date.UTC(2026, 10, 22, 2); day += 86_400_000) {
      daily.push(backup(new Date(day).toISOString().slice(0, 10), new Date(day).toISOString()));
    }
    const decisions = decideRetention(
      daily,
      { keepDaily: 7, keepWeekly: 5, keepMonthly: 12, keepYearly: 3 },
      NOW,
    );
    const only = (rule: string) =>
      decisions.filter(
        (decision) => decision.reasons.length > 0 && decision.reasons.every((r) => r.startsWith(rule)),
      );
    const withRule = (rule: string) =>
      decisions.filter((decision) => decision.reasons.some((r) => r.startsWith(rule)));
    expect(withRule('keep-daily')).toHaveLength(7);
    expect(only('keep-weekly').map((decision) => decision.id)).toEqual([
      '2026-10-25',
      '2026-11-01',
      '2026-11-08',
      '2026-11-15',
    ]);
    expect(withRule('keep-monthly')).toHaveLength(12);
    expect(only('keep-monthly')).toHaveLength(10);
    expect(reasonsOf(decisions)['2025-12-31']).toEqual(['keep-monthly 2025-12', 'keep-yearly 2025']);
    expect(only('keep-yearly').map((decision) => decision.id)).toEqual(['2024-12-31']);
    expect(kept(decisions)).toHaveLength(7 + 4 + 11 + 1);
  });
});

describe('decideRetention safety and ordering', () => {
  it('never removes the newest complete backup, and never counts incomplete ones', () => {
    const backups = [
      backup('old', '2026-11-20T02:00:00Z'),
      backup('newest-complete', '2026-11-24T02:00:00Z'),
      backup('running', '2026-11-25T11:00:00Z', false),
      backup('crashed', '2026-11-22T02:00:00Z', false),
    ];
    const decisions = decideRetention(backups, { keepLast: 1 }, NOW);
    expect(decisions.map((decision) => [decision.id, decision.action])).toEqual([
      ['old', 'remove'],
      ['crashed', 'remove'],
      ['newest-complete', 'keep'],
      ['running', 'keep'],
    ]);
    expect(reasonsOf(decisions)).toMatchObject({
      'newest-complete': ['keep-last 1'],
      running: ['incomplete, younger than 24h: may still be running'],
      crashed: ['incomplete (no manifest.json), older than 24h'],
    });
  });

  it('honours a custom grace period for incomplete backups', () => {
    const decisions = decideRetention(
      [backup('done', '2026-11-25T00:00:00Z'), backup('stale', '2026-11-25T10:00:00Z', false)],
      { keepLast: 1 },
      NOW,
      { incompleteGraceMs: 30 * 60_000 },
    );
    expect(decisions.find((decision) => decision.id === 'stale')).toMatchObject({
      action: 'remove',
      reasons: ['incomplete (no manifest.json), older than 30min'],
    });
  });

  it('gives the same decisions for shuffled input, returned oldest first', () => {
    const policy: RetentionPolicy = { keepDaily: 3, keepMonthly: 2, keepWithin: parseDuration('1d') };
    const expected = decideRetention(SET, policy, NOW);
    expect(expected.map((decision) => decision.id)).toEqual(SET.map((candidate) => candidate.id));
    const shuffled = [
      SET[5],
      SET[11],
      SET[0],
      SET[8],
      SET[2],
      SET[10],
      SET[1],
      SET[7],
      SET[4],
      SET[9],
      SET[3],
      SET[6],
    ];
    expect(decideRetention(shuffled as RetentionCandidate[], policy, NOW)).toEqual(expected);
  });

  it('breaks ties in time by id, so the larger (later) id is the newer backup', () => {
    const tied = [
      backup('20261125T020000Z-bbbb', '2026-11-25T02:00:00Z'),
      backup('20261125T020000Z-aaaa', '2026-11-25T02:00:00Z'),
    ];
    for (const order of [tied, [...tied].reverse()]) {
      const decisions = decideRetention(order, { keepDaily: 1 }, NOW);
      expect(kept(decisions)).toEqual(['20261125T020000Z-bbbb']);
      expect(decisions.map((decision) => decision.id)).toEqual([
        '20261125T020000Z-aaaa',
        '20261125T020000Z-bbbb',
      ]);
    }
  });

  it('does not let a backup dated in the future move the keep-within window, and keeps it', () => {
    const withFuture = [...SET, backup('future', '2026-12-30T00:00:00Z')];
    expect(kept(decideRetention(withFuture, { keepWithin: parseDuration('2d') }, NOW))).toEqual([
      'f',
      'g',
      'h',
      'future',
    ]);
  });

  it('returns no decisions for no backups', () => {
    expect(decideRetention([], { keepLast: 1 }, NOW)).toEqual([]);
  });

  it.each<[string, RetentionPolicy]>([
    ['an empty policy', {}],
    ['only zero counts', { keepLast: 0, keepDaily: 0 }],
  ])('refuses %s, naming the flags that keep something', (_, policy) => {
    const error = thrown(() => decideRetention(SET, policy, NOW));
    expect(error.code).toBe('USAGE');
    expect(error.message).toContain('would remove every backup');
    expect(error.message).toContain('--keep-last N');
    expect(error.message).toContain('--keep-within DURATION');
  });

  it.each([-2, 1.5, Number.NaN])('refuses the count %s', (count) => {
    expect(thrown(() => decideRetention(SET, { keepDaily: count }, NOW)).message).toMatch(
      /--keep-daily must be a whole number/,
    );
  });

  it('refuses a backup listed twice', () => {
    expect(thrown(() => decideRetention([SET[0]!, SET[0]!], { keepLast: 1 }, NOW)).message).toMatch(
      /listed twice/,
    );
  });
});

describe('retentionPolicyFromFlags', () => {
  it('reads CLI strings, with unlimited as -1', () => {
    const policy = retentionPolicyFromFlags({
      keepDaily: '7',
      keepYearly: 'unlimited',
      keepWithin: '2d',
      keepLast: undefined,
    });
    expect(policy).toEqual({ keepDaily: 7, keepYearly: -1, keepWithin: parseDuration('2d') });
  });

  it.each([
    [
      { keepDaily: 'seven' },
      /--keep-daily must be a whole number >= 0, or -1 \/ unlimited to keep all, got "seven"/,
    ],
    [{ keepWithin: '2x' }, /--keep-within invalid duration "2x": unknown unit "x"/],
    [{ keepDayly: '2' }, /unknown retention flag --keep-dayly/],
    [{ keepLast: '0' }, /would remove every backup/],
  ])('refuses %j with a message naming the flag', (values, message) => {
    const error = thrown(() => retentionPolicyFromFlags(values));
    expect(error.code).toBe('USAGE');
    expect(error.message).toMatch(message);
  });
});

describe('formatRetentionTable', () => {
  it('prints one aligned row per backup with its action and reasons, then the totals', () => {
    const table = formatRetentionTable(decideRetention(SET.slice(-3), { keepLast: 2 }, NOW));
    expect(table.split('\n')).toEqual([
      'ID  TIME (UTC)            ACTION  REASONS',
      'f   2026-11-24 02:00:00Z  remove  -',
      'g   2026-11-24 03:30:00Z  keep    keep-last 2',
      'h   2026-11-25 02:00:00Z  keep    keep-last 1',
      'keep 2, remove 1',
    ]);
  });
});
