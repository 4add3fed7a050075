import { isNexusError } from '@nexus-backup/core';
import { describe, expect, it } from 'vitest';
import { readSqlScript, type SqlScriptEvent } from '../src/restore/sql-script-reader.js';

/** What a reader produced, as plain data: COPY bodies joined so chunkings can be compared. */
type Seen =
  | { statement: string; line: number }
  | { copy: string; line: number; dataLine: number; data: string; rows: number }
  | { meta: string; argument: string; line: number };

async function* inChunks(bytes: Buffer, sizes: (index: number) => number): AsyncGenerator<Buffer> {
  let offset = 0;
  for (let index = 0; offset < bytes.length; index++) {
    const size = Math.max(1, sizes(index));
    yield bytes.subarray(offset, offset + size);
    offset += size;
  }
}

async function read(source: AsyncIterable<Buffer>): Promise<Seen[]> {
  const seen: Seen[] = [];
  for await (const event of readSqlScript(source)) seen.push(await describeEvent(event));
  return seen;
}

async function describeEvent(event: SqlScriptEvent): Promise<Seen> {
  if (event.kind === 'statement') return { statement: event.sql, line: event.line };
  if (event.kind === 'meta') return { meta: event.name, argument: event.argument, line: event.line };
  const parts: Buffer[] = [];
  for await (const part of event.data) parts.push(part);
  return {
    copy: event.table,
    line: event.line,
    dataLine: event.dataLine,
    data: Buffer.concat(parts).toString('utf8'),
    rows: event.rows,
  };
}

function readWhole(text: string): Promise<Seen[]> {
  const bytes = Buffer.from(text);
  return read(inChunks(bytes, () => bytes.length));
}

async function readError(text: string, chunkSize = 1 << 20): Promise<Error> {
  const bytes = Buffer.from(text);
  try {
    await read(inChunks(bytes, () => chunkSize));
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the reader to reject the script');
}

const TRICKY = [
  '--',
  '-- PostgreSQL database dump',
  '--',
  '',
  '\\restrict AbC123xyz',
  '',
  "SET client_encoding = 'UTF8';",
  "SELECT pg_catalog.set_config('search_path', '', false);",
  "SELECT 'a;b', 'it''s; fine', E'back\\\\slash\\'; quote', \"semi;colon\" FROM t; -- trailing; comment",
  '/* block; /* nested; */ still comment; */ SELECT 1 /* inline */ - 2;',
  "CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN ';'; END $$;",
  'CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $body$ SELECT $$;$$ || $x$ $body $x$ $body$;',
  'PREPARE p AS SELECT $1::int;',
  'SELECT a$b FROM c;',
  "SELECT U&'d\\0061t;a', B'101', x'ff';",
  'CREATE FUNCTION h(a int) RETURNS int LANGUAGE sql',
  'BEGIN ATOMIC',
  '  SELECT CASE WHEN a > 0 THEN 1 ELSE 2 END;',
  '  SELECT a;',
  'END;',
  'CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO u VALUES (1); INSERT INTO u VALUES (2));',
  'SELECT 3 -- no space before the next line',
  '-4;',
  'COPY public.t (id, "na;me", body) FROM stdin;',
  '1\t\\\\.\tline with an escaped backslash-dot',
  '2\t\\N\t\\.x is not an end marker',
  '\\\\.',
  '3\tnon-ASCII: żółw ✓\t;; -- not a comment',
  '\\.',
  'COPY public.empty FROM stdin;',
  '\\.',
  "SELECT 'done'; ;;",
  '',
  '--',
  '-- PostgreSQL database dump complete',
  '--',
  '',
  '\\unrestrict AbC123xyz',
  '',
].join('\n');

const EXPECTED: Seen[] = [
  { statement: "SET client_encoding = 'UTF8';", line: 7 },
  { statement: "SELECT pg_catalog.set_config('search_path', '', false);", line: 8 },
  {
    statement: "SELECT 'a;b', 'it''s; fine', E'back\\\\slash\\'; quote', \"semi;colon\" FROM t;",
    line: 9,
  },
  { statement: 'SELECT 1 /* inline */ - 2;', line: 10 },
  {
    statement: "CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN ';'; END $$;",
    line: 11,
  },
  {
    statement:
      'CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $body$ SELECT $$;$$ || $x$ $body $x$ $body$;',
    line: 12,
  },
  { statement: 'PREPARE p AS SELECT $1::int;', line: 13 },
  { statement: 'SELECT a$b FROM c;', line: 14 },
  { statement: "SELECT U&'d\\0061t;a', B'101', x'ff';", line: 15 },
  {
    statement: [
      'CREATE FUNCTION h(a int) RETURNS int LANGUAGE sql',
      'BEGIN ATOMIC',
      '  SELECT CASE WHEN a > 0 THEN 1 ELSE 2 END;',
      '  SELECT a;',
      'END;',
    ].join('\n'),
    line: 16,
  },
  {
    statement:
      'CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO u VALUES (1); INSERT INTO u VALUES (2));',
    line: 21,
  },
  { statement: 'SELECT 3 -- no space before the next line\n-4;', line: 22 },
  {
    copy: 'public.t',
    line: 24,
    dataLine: 25,
    data: '1\t\\\\.\tline with an escaped backslash-dot\n2\t\\N\t\\.x is not an end marker\n\\\\.\n3\tnon-ASCII: żółw ✓\t;; -- not a comment\n',
    rows: 4,
  },
  { copy: 'public.empty', line: 30, dataLine: 31, data: '', rows: 0 },
  { statement: "SELECT 'done';", line: 32 },
];

describe('readSqlScript', () => {
  it('splits statements the way psql does: quotes, dollar quotes, comments, rule actions, BEGIN ATOMIC', async () => {
    expect(await readWhole(TRICKY)).toEqual(EXPECTED);
  });

  it('gives the same statements, COPY data and line numbers for every split of the input into two chunks', async () => {
    const bytes = Buffer.from(TRICKY);
    for (let split = 1; split < bytes.length; split++) {
      const seen = await read(inChunks(bytes, (index) => (index === 0 ? split : bytes.length)));
      expect(seen, `split at byte ${split}`).toEqual(EXPECTED);
    }
  });

  it('gives the same result when the input arrives one byte at a time', async () => {
    const bytes = Buffer.from(TRICKY);
    expect(await read(inChunks(bytes, () => 1))).toEqual(EXPECTED);
  });

  it('gives the same result for chunks of every size from 2 to 17 bytes', async () => {
    const bytes = Buffer.from(TRICKY);
    for (let size = 2; size <= 17; size++) {
      expect(await read(inChunks(bytes, () => size)), `chunks of ${size}`).toEqual(EXPECTED);
    }
  });

  it('ends COPY data at a \\. line with CRLF, and at a final \\. without a newline', async () => {
    for (const size of [1, 2, 3, 1000]) {
      const bytes = Buffer.from('COPY t FROM stdin;\r\na\r\n\\.\r\nCOPY u FROM stdin;\nb\n\\.');
      const seen = await read(inChunks(bytes, () => size));
      expect(seen).toEqual([
        { copy: 't', line: 1, dataLine: 2, data: 'a\r\n', rows: 1 },
        { copy: 'u', line: 4, dataLine: 5, data: 'b\n', rows: 1 },
      ]);
    }
  });

  it('keeps a leading - or / that starts no comment as statement text, however the input is split', async () => {
    const bytes = Buffer.from('-- c\n-1;\n/* c */ /2;\n');
    for (const size of [1, 2, 3, 5, 100]) {
      expect(await read(inChunks(bytes, () => size))).toEqual([
        { statement: '-1;', line: 2 },
        { statement: '/2;', line: 3 },
      ]);
    }
  });

  it('honours standard_conforming_strings = off, where a backslash escapes a quote inside plain strings', async () => {
    const seen = await readWhole("SET standard_conforming_strings = off;\nSELECT 'a\\'; b';\nSELECT 2;");
    expect(seen.map((event) => ('statement' in event ? event.statement : ''))).toEqual([
      'SET standard_conforming_strings = off;',
      "SELECT 'a\\'; b';",
      'SELECT 2;',
    ]);
  });

  it('passes other backslash commands on as meta-commands with their line', async () => {
    expect(await readWhole('SELECT 1;\n\\connect -reuse-previous=on "dbname=\'app\'"\nSELECT 2;\n')).toEqual([
      { statement: 'SELECT 1;', line: 1 },
      { meta: 'connect', argument: '-reuse-previous=on "dbname=\'app\'"', line: 2 },
      { statement: 'SELECT 2;', line: 3 },
    ]);
  });

  it('streams COPY data as slices of the input chunks and reads no further ahead than the consumer', async () => {
    const row = Buffer.from(`${'x'.repeat(1023)}\n`);
    const head = Buffer.from('COPY big FROM stdin;\n');
    let pulled = 0;
    const chunks = 200;
    async function* source(): AsyncGenerator<Buffer> {
      yield head;
      for (let i = 0; i < chunks; i++) {
        pulled++;
        yield Buffer.concat(Array.from({ length: 16 }, () => row));
      }
      yield Buffer.from('\\.\n');
    }
    const events = readSqlScript(source());
    const first = await events.next();
    if (first.done || first.value.kind !== 'copy') throw new Error('expected a COPY block');
    let received = 0;
    for await (const part of first.value.data) {
      received++;
      // No read-ahead: the reader holds at most the chunk it is handing out.
      expect(pulled).toBe(Math.min(received, chunks));
      expect(part.length).toBe(16 * 1024);
    }
    expect(first.value.rows).toBe(chunks * 16);
    expect((await events.next()).done).toBe(true);
  });

  describe('rejects a script cut short, naming where', () => {
    it.each([
      [
        'mid-statement',
        'SELECT 1;\nCREATE TABLE t (\n  id int',
        /ends inside a statement .*from line 2.*cut short/,
      ],
      ['inside a string', "SELECT 1;\nSELECT 'abc", /ends inside a quoted string \(from line 2\)/],
      ['inside a dollar quote', 'SELECT 1;\nDO $x$ BEGIN', /ends inside a dollar-quoted string \(\$x\$\)/],
      ['inside a block comment', 'SELECT 1;\n/* abc', /ends inside a \/\* comment \*\//],
      [
        'mid-COPY',
        'COPY public.t FROM stdin;\n1\n2\n',
        /inside the COPY data of public.t \(data from line 2, 2 rows read\)/,
      ],
      ['right after a COPY statement', 'COPY public.t FROM stdin;', /right after the COPY statement/],
      ['before \\unrestrict', '\\restrict k\nSELECT 1;\n', /before the \\unrestrict/],
    ])('%s', async (_name, text, message) => {
      for (const size of [1, 1 << 20]) {
        const error = await readError(text, size);
        expect(isNexusError(error) && error.code).toBe('INTEGRITY');
        expect(error.message).toMatch(message);
      }
    });
  });

  it('rejects an \\unrestrict whose key differs from the \\restrict', async () => {
    const error = await readError('\\restrict one\nSELECT 1;\n\\unrestrict two\n');
    expect(error.message).toMatch(/line 3: .*does not match/);
  });

  it('rejects a script in a client encoding other than UTF8', async () => {
    const error = await readError("SET client_encoding = 'LATIN1';\nSELECT 1;\n");
    expect(isNexusError(error) && error.code).toBe('INTEGRITY');
    expect(error.message).toMatch(/line 1: .*client encoding LATIN1/);
  });

  it('rejects a backslash command in the middle of a statement', async () => {
    const error = await readError('SELECT 1 \\gset\n;');
    expect(error.message).toMatch(/line 1: a psql backslash command inside a statement/);
  });
});
