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
  ])('"%s" is the instant %s (UTC unless it names a zone)', (text, at) => {
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
    expect(() => createSource({ db, ...options })).toThrow(
      expect.objectContaining({ code: 'USAGE', message: expect.stringContaining(message) }),
    );

  it('refuses what cannot be meant', () => {
    refused({ conversationId: '123e4567-e89b-12d3-a456' }, 'is not a UUID');
    refused(
      { conversationId: '123e4567-e89b-12d3-a456-426614174000', where: 'x: true' },
      'cannot be combined',
    );
    refused({ includeChunks: true }, '--include-chunks only applies to --conversation-id');
    refused({ group: ['api_requests.conversation_id'] }, '--group need a selection');
    refused({ where: 'api_requests conversation_id = $1' }, 'is not "TABLE: condition"');
    refused({ where: 'drop table x; --: true' }, 'not a plain table or column name');
    refused({ since: '1 day', group: ['conversation_id'] }, 'is not TABLE.COLUMN');
    refused({ since: '1 day', sinceColumn: ['api_requests'] }, 'is not TABLE=COLUMN');
    refused({ param: ['1'], since: '1 day' }, 'there is no --where');
    refused({ since: '1 day', schemaOnly: true }, '--schema-only dumps no rows');
  });

  it('accepts the issue forms', () => {
    for (const options of [
      { since: '1 day', group: ['api_requests.conversation_id'] },
      { since: '2024-01-01' },
      { conversationId: '123E4567-E89B-12D3-A456-426614174000', includeChunks: true },
      {
        where: 'public.api_requests: status >= $1',
        param: ['500'],
        sinceColumn: ['api_requests=created_at'],
        since: '2 hours',
      },
    ]) {
      expect(() => createSource({ db, ...options })).not.toThrow();
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
        'conversationId',
        'includeChunks',
      ]),
    );
    expect(Object.keys(postgres.restoreOptions)).toEqual(expect.arrayContaining(['toDb', 'dryRun']));
  });
});
