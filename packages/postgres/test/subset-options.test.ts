import { postgres } from '@nexus-backup/postgres';
import { describe, expect, it } from 'vitest';
import { parseSince } from '../src/subset/since.js';
import { createSource, type SelectionOptions } from './subset-support.js';

describe('--since', () => {
  it.each([
    ['1 day', '1 days'],
    ['2 hours', '2 hours'],
    ['3 weeks', '3 weeks'],
    ['90 minutes', '90 minutes'],
    ['1 day 12 hours', '1 days 12 hours'],
    ['7d', '7 days'],
    ['1y2m3d', '1 years 2 months 3 days 0 hours 0 minutes 0 seconds'],
  ])('"%s" is a span back from the snapshot (%s)', (text, interval) => {
    expect(parseSince(text)).toEqual({ kind: 'ago', interval, text });
  });

  it.each([
    ['2024-01-01', '2024-01-01T00:00:00.000Z'],
    ['2024-01-01 12:00', '2024-01-01T12:00:00.000Z'],
    ['2024-01-01T12:00:30Z', '2024-01-01T12:00:30.000Z'],
    ['2024-01-01T12:00:00+02:00', '2024-01-01T10:00:00.000Z'],
    ['2024-02-29T23:59:59.5-0130', '2024-03-01T01:29:59.500Z'],
  ])('"%s" is the instant %s (UTC unless it ends with an offset)', (text, at) => {
    expect(parseSince(text)).toEqual({ kind: 'instant', at, text });
  });

  it.each([
    'yesterday',
    '1 fortnight',
    '1.5 days',
    '0 days',
    '2024-02-30',
    '2024-13-01',
    '2024-01-01 25:00',
    '',
  ])('"%s" is a usage error naming the accepted forms', (text) => {
    let error: unknown;
    try {
      parseSince(text);
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({
      code: 'USAGE',
      hint: expect.stringContaining('"1 day", "2 hours", "3 weeks"'),
    });
  });
});

describe('selection options are checked before anything connects', () => {
  const db = 'postgresql://nobody@127.0.0.1:1/none';
  const refused = (options: SelectionOptions, message: string) =>
    expect(createSource({ db, ...options })).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining(message),
    });

  it('refuses what cannot be meant', async () => {
    await refused({ conversationId: '123e4567-e89b-12d3-a456' }, 'is not a UUID');
    await refused(
      { conversationId: '123e4567-e89b-12d3-a456-426614174000', where: 'x: true' },
      'cannot be combined',
    );
    await refused(
      { conversationId: '123e4567-e89b-12d3-a456-426614174000', select: 'conversation' },
      'cannot be combined with --select',
    );
    await refused({ includeChunks: true }, '--include-chunks only applies to --conversation-id');
    await refused({ group: ['api_requests.conversation_id'] }, '--group need a selection');
    await refused({ where: 'api_requests conversation_id = $1' }, 'is not "TABLE: condition"');
    await refused({ where: 'drop table x; --: true' }, 'not a plain table or column name');
    await refused({ since: '1 day', group: ['conversation_id'] }, 'is not TABLE.COLUMN');
    await refused({ since: '1 day', sinceColumn: ['api_requests'] }, 'is not TABLE=COLUMN');
    await refused({ param: ['1'], since: '1 day' }, 'there is no --where');
    await refused({ since: '1 day', schemaOnly: true }, '--schema-only dumps no rows');
  });

  it('refuses a profile selection given wrongly, naming the fix', async () => {
    await refused({ profile: 'claude-nexus' }, '--profile needs a selection');
    await refused({ profile: 'no-such-profile', since: '1 day' }, 'neither a built-in profile nor a file');
    await refused({ profile: './missing-profile.yaml', since: '1 day' }, 'cannot read');
    await refused(
      { profile: 'claude-nexus', select: 'tenant', param: ['acme'] },
      'has no selection "tenant"',
    );
    await refused({ profile: 'claude-nexus', select: 'conversation' }, 'takes 1 --param value(s), got 0');
    await refused(
      { profile: 'claude-nexus', select: 'conversation', param: ['acme'] },
      '--param (selection conversation) "acme" is not a UUID',
    );
    await refused({ profile: 'claude-nexus', select: 'recent' }, 'it needs --since');
    await refused(
      { profile: 'claude-nexus', since: '1 day', includeChunks: true },
      'selection recent of profile claude-nexus declares no chunks',
    );
    await refused({ select: 'tenant', param: ['acme'] }, 'no built-in profile has a selection "tenant"');
    await refused(
      { profile: 'claude-nexus', select: 'conversation', where: 'api_requests: true' },
      'cannot be combined with --where',
    );
  });

  it('accepts the issue forms', async () => {
    for (const options of [
      { since: '1 day', group: ['api_requests.conversation_id'] },
      { since: '2024-01-01' },
      { conversationId: '123E4567-E89B-12D3-A456-426614174000', includeChunks: true },
      { profile: 'claude-nexus', since: '1 day' },
      { profile: 'claude-nexus', where: 'api_requests: model = $1', param: ['claude-haiku'], since: '1 day' },
      { profile: 'claude-nexus', conversationId: '123e4567-e89b-12d3-a456-426614174000' },
      { profile: 'claude-nexus', select: 'conversation', param: ['123e4567-e89b-12d3-a456-426614174000'] },
      {
        where: 'public.api_requests: response_status >= $1',
        param: ['500'],
        sinceColumn: ['api_requests=timestamp'],
        since: '2 hours',
      },
    ]) {
      await expect(createSource({ db, ...options })).resolves.toBeDefined();
    }
  });

  it('declares every selection option for the CLI and config', () => {
    expect(Object.keys(postgres.options)).toEqual(
      expect.arrayContaining([
        'since',
        'sinceColumn',
        'untimedTables',
        'where',
        'param',
        'group',
        'profile',
        'select',
        'conversationId',
        'includeChunks',
      ]),
    );
    expect(Object.keys(postgres.restoreOptions)).toEqual(expect.arrayContaining(['toDb', 'dryRun']));
  });
});
