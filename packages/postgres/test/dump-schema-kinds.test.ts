import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestContext } from '@nexus-backup/testkit';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupToFile, createSource, loadFixtureSet, psqlFile } from './dump-support.js';

// Collations, operators, text search, foreign data, event triggers... with the dump's options.
let server: PostgresServer;
let dir: string;
let sourceUrl: string;
let counter = 0;

beforeAll(async () => {
  server = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'nexus-dump-kinds-'));
  sourceUrl = await server.admin.createDatabase('kinds');
  await loadFixtureSet(sourceUrl, server.major, 'zoo-schema-kinds');
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function dump(options: Parameters<typeof backupToFile>[0]) {
  const file = join(dir, `dump-${++counter}.sql`);
  const lines: string[] = [];
  await backupToFile(options, file, createTestContext({ lines }));
  return {
    file,
    text: await readFile(file, 'utf8'),
    warnings: lines.filter((line) => line.startsWith('warn')),
  };
}

async function restoreWithPsql(file: string): Promise<string> {
  const url = await server.admin.createDatabase(`restored_${++counter}`);
  await psqlFile(url, file);
  return url;
}

/** The distinct lines of a description that mention one of the words. */
const linesAbout = (description: string, words: string[]) => [
  ...new Set(description.split('\n').filter((line) => words.some((word) => line.includes(word)))),
];

describe('schema-level kinds', () => {
  it('each kind of the fixture has lines in the catalog oracle, so a kind the dump drops fails the fidelity test', async () => {
    const lines = (await describeDatabase(sourceUrl)).split('\n');
    for (const start of [
      'language plpgsql_copy trusted=false handler=plpgsql_call_handler()',
      'transform kinds.ean language=plpgsql_copy from=kinds.ean_from_sql(internal)',
      'collation kinds.case_insensitive provider=i deterministic=false',
      'collation kinds.split_locale provider=c',
      'base type kinds.ean ',
      'base type kinds.pending ',
      'cast numeric as kinds.temperature function=kinds.temperature_of(numeric)',
      'cast kinds.temperature as text function=- context=e method=i',
      'conversion kinds.utf8_to_latin1 UTF8->LATIN1',
      'access method heap_copy type=t',
      'access method btree_copy type=i',
      'operator kinds.=~=(integer,integer) ',
      'operator kinds.##(NONE,integer) ',
      'operator family kinds.abs_ops using hash',
      'operator class kinds.int4_reverse_ops using btree',
      'text search parser kinds.words ',
      'text search template kinds.plain ',
      'text search dictionary kinds.plain_dict ',
      'text search configuration kinds.docs ',
      'statistics kinds.city_zip ',
      'event trigger kinds_disabled ',
      'foreign data wrapper kinds_files ',
      'server kinds_archive ',
      'user mapping public server=kinds_archive',
      'foreign table kinds.archived_orders ',
    ]) {
      expect(
        lines.some((line) => line.startsWith(start)),
        start,
      ).toBe(true);
    }
  });

  it('are written before what uses them, event triggers last with their enabled state', async () => {
    const { text, warnings } = await dump({ db: sourceUrl });
    expect(warnings).toEqual([]);
    const at = (sql: string) => {
      const index = text.indexOf(sql);
      expect(index, sql).toBeGreaterThanOrEqual(0);
      return index;
    };
    const table = at('CREATE TABLE kinds.products');
    expect(at('CREATE COLLATION kinds.case_insensitive')).toBeLessThan(table);
    expect(at('CREATE ACCESS METHOD heap_copy')).toBeLessThan(table);
    expect(at('CREATE TEXT SEARCH CONFIGURATION kinds.docs')).toBeLessThan(table);
    expect(at('CREATE TYPE kinds.ean;')).toBeLessThan(at('CREATE OR REPLACE FUNCTION kinds.ean_in'));
    expect(at('CREATE OR REPLACE FUNCTION kinds.ean_out')).toBeLessThan(at('CREATE TYPE kinds.ean ('));
    expect(at('CREATE TYPE kinds.ean (')).toBeLessThan(table);
    expect(at('CREATE CAST (numeric AS kinds.temperature)')).toBeLessThan(at('CREATE VIEW kinds.readings'));
    expect(at('CREATE SERVER kinds_archive')).toBeLessThan(at('CREATE FOREIGN TABLE kinds.archived_orders'));
    expect(at('CREATE STATISTICS kinds.city_zip ')).toBeGreaterThan(text.lastIndexOf('\n\\.\n'));
    expect(at('ALTER STATISTICS kinds.city_zip SET STATISTICS 500;')).toBeGreaterThan(0);
    const firstEventTrigger = at('CREATE EVENT TRIGGER');
    expect(firstEventTrigger).toBeGreaterThan(text.lastIndexOf('CREATE INDEX'));
    expect(firstEventTrigger).toBeGreaterThan(text.lastIndexOf('CREATE STATISTICS'));
    expect(at('ALTER EVENT TRIGGER kinds_disabled DISABLE;')).toBeGreaterThan(firstEventTrigger);
    expect(at('ALTER EVENT TRIGGER kinds_always ENABLE ALWAYS;')).toBeGreaterThan(firstEventTrigger);
    expect(at('ALTER EVENT TRIGGER kinds_replica ENABLE REPLICA;')).toBeGreaterThan(firstEventTrigger);
  });

  it('--tables brings the collations, access method, operator class, text search objects and base type a table needs, and nothing unrelated', async () => {
    const { file, text } = await dump({ db: sourceUrl, tables: ['kinds.products'] });
    for (const unrelated of ['CREATE EVENT TRIGGER', 'CREATE CAST', 'CREATE SERVER', 'CREATE CONVERSION'])
      expect(text).not.toContain(unrelated);
    const url = await restoreWithPsql(file);
    const words = ['kinds.products', 'kinds.case_insensitive', 'kinds.docs', 'kinds.ean', 'heap_copy'];
    // Casts and transforms (and the transform's functions) belong to no table, so --tables leaves
    // them out, like pg_dump --table.
    const unrelated = /^(cast|transform|comment transform) |^routine kinds\.ean_(from|to)_sql/;
    const source = linesAbout(await describeDatabase(sourceUrl), words).filter(
      (line) => !unrelated.test(line),
    );
    expect(linesAbout(await describeDatabase(url), words)).toEqual(source);
    const sums = await tableChecksums(sourceUrl);
    expect(await tableChecksums(url)).toEqual({ 'kinds.products': sums['kinds.products'] });
  });

  it('--exclude-tables leaves out the statistics objects of an excluded table', async () => {
    const { file, text } = await dump({ db: sourceUrl, excludeTables: ['kinds.measurements'] });
    expect(text).not.toContain('CREATE STATISTICS');
    const url = await restoreWithPsql(file);
    expect(await describeDatabase(url)).not.toContain('statistics kinds.city_zip');
  });

  it('with owners and privileges, each kind keeps its owner and a server its grants', async () => {
    const ownedUrl = await server.admin.createDatabase('kinds_owned');
    await loadFixtureSet(ownedUrl, server.major, 'zoo-schema-kinds');
    await server.admin.query('CREATE ROLE kinds_owner');
    await server.admin.exec(
      'kinds_owned',
      `ALTER COLLATION kinds.case_insensitive OWNER TO kinds_owner;
       ALTER TYPE kinds.ean OWNER TO kinds_owner;
       ALTER OPERATOR kinds.=~= (integer, integer) OWNER TO kinds_owner;
       ALTER OPERATOR CLASS kinds.int4_reverse_ops USING btree OWNER TO kinds_owner;
       ALTER OPERATOR FAMILY kinds.abs_ops USING hash OWNER TO kinds_owner;
       ALTER CONVERSION kinds.utf8_to_latin1 OWNER TO kinds_owner;
       ALTER TEXT SEARCH CONFIGURATION kinds.docs OWNER TO kinds_owner;
       ALTER TEXT SEARCH DICTIONARY kinds.plain_dict OWNER TO kinds_owner;
       ALTER STATISTICS kinds.city_zip OWNER TO kinds_owner;
       ALTER SERVER kinds_plain OWNER TO kinds_owner;
       GRANT USAGE ON FOREIGN SERVER kinds_archive TO kinds_owner;
       GRANT USAGE ON FOREIGN DATA WRAPPER kinds_files TO kinds_owner;
       ALTER FOREIGN TABLE kinds.archived_orders OWNER TO kinds_owner;
       ALTER LANGUAGE plpgsql_copy OWNER TO kinds_owner;`,
    );
    const { file, text } = await dump({ db: ownedUrl, owners: true, privileges: true });
    expect(text).toContain('ALTER OPERATOR CLASS kinds.int4_reverse_ops USING btree OWNER TO kinds_owner;');
    const url = await restoreWithPsql(file);
    expect(await describeDatabase(url)).toEqual(await describeDatabase(ownedUrl));
  });

  it('a user mapping that fails to restore is named in the error without its options (a password)', async () => {
    const url = await server.admin.createDatabase('mapped');
    await server.admin.query('CREATE ROLE kinds_mapped');
    await server.admin.exec(
      'mapped',
      `CREATE FOREIGN DATA WRAPPER w;
       CREATE SERVER s FOREIGN DATA WRAPPER w;
       CREATE USER MAPPING FOR kinds_mapped SERVER s OPTIONS (user 'app', password 'hunter2-secret');`,
    );
    const { file, text } = await dump({ db: url });
    expect(text).toContain(
      "CREATE USER MAPPING FOR kinds_mapped SERVER s\n    OPTIONS (password 'hunter2-secret', \"user\" 'app');",
    );
    // The role is cluster-wide: a server without it cannot take the mapping.
    await server.admin.exec('mapped', 'DROP USER MAPPING FOR kinds_mapped SERVER s');
    await server.admin.query('DROP ROLE kinds_mapped');
    const source = await createSource({ db: url });
    const { size } = await stat(file);
    async function* artifacts() {
      yield { name: 'database.sql', stream: createReadStream(file), rawBytes: size, meta: {} };
    }
    const restore = source.restore(createTestContext(), artifacts(), {
      db: url,
      createDb: 'mapped_restored',
    });
    await expect(restore).rejects.toThrow(
      /role "kinds_mapped" does not exist.*CREATE USER MAPPING FOR kinds_mapped SERVER s OPTIONS \(\.\.\.\)/,
    );
    await expect(restore).rejects.not.toThrow(/hunter2/);
  });
});
