import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgres } from '@nexus-backup/postgres';
import { createTestContext } from '@nexus-backup/testkit';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupToFile, createSource, loadZoo, psqlFile } from './dump-support.js';

let server: PostgresServer;
let dir: string;
let sourceUrl: string;
let counter = 0;

beforeAll(async () => {
  server = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'nexus-dump-options-'));
  sourceUrl = await server.admin.createDatabase('zoo');
  await loadZoo(sourceUrl, server.major);
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Dumps with the options into a file; returns its text, the warnings and the file. */
async function dump(options: Parameters<typeof backupToFile>[0]) {
  const file = join(dir, `dump-${++counter}.sql`);
  const lines: string[] = [];
  const { meta } = await backupToFile(options, file, createTestContext({ lines }));
  return {
    file,
    text: await readFile(file, 'utf8'),
    warnings: lines.filter((line) => line.startsWith('warn')),
    meta,
  };
}

async function restoreWithPsql(file: string): Promise<string> {
  const url = await server.admin.createDatabase(`restored_${++counter}`);
  await psqlFile(url, file);
  return url;
}

const tablesOf = async (url: string) => Object.keys(await tableChecksums(url));

describe('schemaOnly and dataOnly', () => {
  it('schemaOnly writes no data and restores every object with empty tables', async () => {
    const { file, text } = await dump({ db: sourceUrl, schemaOnly: true });
    expect(text).not.toContain('FROM stdin;');
    expect(text).not.toContain('setval');
    expect(text).not.toContain('REFRESH MATERIALIZED VIEW');
    const url = await restoreWithPsql(file);
    const unpopulated = (description: string) =>
      description.replaceAll(' populated=true', ' populated=false');
    expect(unpopulated(await describeDatabase(url))).toEqual(unpopulated(await describeDatabase(sourceUrl)));
    for (const sum of Object.values(await tableChecksums(url))) expect(sum).toMatch(/^0 rows /);
  });

  it('dataOnly loads every row into a schema restored from schemaOnly, foreign keys and a key cycle included', async () => {
    const schema = await dump({ db: sourceUrl, schemaOnly: true });
    const data = await dump({ db: sourceUrl, dataOnly: true });
    expect(data.text).not.toMatch(/CREATE (TABLE|INDEX|FUNCTION)|ADD CONSTRAINT/);
    expect(data.text).toContain('SET CONSTRAINTS ALL DEFERRED;');
    const url = await restoreWithPsql(schema.file);
    // Rows the source kept under NOT VALID checks cannot be loaded where the checks exist (as with pg_dump).
    await server.admin.exec(
      url.split('/').pop() as string,
      `ALTER TABLE app.orders DROP CONSTRAINT quantity_small;
       ALTER DOMAIN app.positive_int DROP CONSTRAINT below_million;
       ${server.major >= 18 ? 'ALTER TABLE app.drafts DROP CONSTRAINT drafts_title_nn;' : ''}`,
    );
    // psql -1: one transaction, so the deferrable key of the teams/players cycle is checked at commit.
    const { execFile } = await import('node:child_process');
    await new Promise<void>((resolve, reject) =>
      execFile(
        'psql',
        ['-X', '-q', '-1', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-d', url, '-f', data.file],
        (error) => (error ? reject(error) : resolve()),
      ),
    );
    expect(await tableChecksums(url)).toEqual(await tableChecksums(sourceUrl));
    // Referenced rows come first: customers before orders.
    expect(data.text.indexOf('COPY app.customers ')).toBeLessThan(data.text.indexOf('COPY app.orders '));
  });

  it('refuses schemaOnly together with dataOnly', async () => {
    // Async: the declared option rules (--jobs) make create check them before the provider's own checks.
    await expect(async () =>
      postgres.create({ db: sourceUrl, schemaOnly: true, dataOnly: true, owners: false, privileges: false }),
    ).rejects.toThrow(/exclude each other/);
  });
});

describe('table selection', () => {
  it('tables keeps the matching tables with what they need, and drops keys to tables left out', async () => {
    const { file, text, warnings } = await dump({ db: sourceUrl, tables: ['app.orders'] });
    expect(text).toContain('CREATE TABLE app.orders');
    expect(text).toContain('CREATE DOMAIN app.positive_int'); // a column's type
    expect(text).toContain('FUNCTION app.next_invoice()'); // a default's function
    expect(text).toContain('CREATE SEQUENCE app.orders_id_seq'); // the serial's sequence
    expect(text).not.toContain('CREATE TABLE app.zoo');
    expect(warnings.join('\n')).toMatch(/orders_customer_id_fkey is left out/);
    const url = await restoreWithPsql(file);
    expect(await tablesOf(url)).toEqual(['app.orders']);
    expect((await tableChecksums(url))['app.orders']).toEqual(
      (await tableChecksums(sourceUrl))['app.orders'],
    );
  });

  it('a partitioned table brings its partitions and their rows; patterns without a schema match any schema', async () => {
    const { file } = await dump({ db: sourceUrl, tables: ['events'] });
    const url = await restoreWithPsql(file);
    const expected = Object.entries(await tableChecksums(sourceUrl)).filter(([name]) =>
      name.startsWith('app.events'),
    );
    expect(Object.entries(await tableChecksums(url))).toEqual(expected);
  });

  it('excludeTables leaves out the tables, their data and the views built on them', async () => {
    const { file, text, warnings } = await dump({ db: sourceUrl, excludeTables: ['app.orders', '*.zoo'] });
    expect(text).not.toContain('CREATE TABLE app.orders');
    expect(text).not.toContain('COPY app.zoo');
    expect(text).not.toContain('CREATE VIEW app.customer_orders');
    expect(warnings.join('\n')).toMatch(/view app\.customer_orders is left out/);
    const url = await restoreWithPsql(file);
    const tables = await tablesOf(url);
    expect(tables).toContain('app.customers');
    expect(tables).not.toContain('app.orders');
    expect(tables).not.toContain('app.zoo');
  });
});

describe('owners and privileges', () => {
  beforeAll(async () => {
    await server.admin.query('CREATE ROLE nexus_reader');
    await server.admin.query('CREATE ROLE nexus_owner');
    await server.admin.exec(
      'zoo',
      `GRANT USAGE ON SCHEMA app TO nexus_reader;
       GRANT SELECT ON app.customers TO nexus_reader WITH GRANT OPTION;
       GRANT SELECT (id, status) ON app.orders TO nexus_reader;
       REVOKE EXECUTE ON FUNCTION app.add_tax(numeric, numeric) FROM PUBLIC;
       GRANT EXECUTE ON FUNCTION app.add_tax(numeric, numeric) TO nexus_reader;
       ALTER TABLE app.cache OWNER TO nexus_owner;`,
    );
  });

  afterAll(async () => {
    await server.admin.exec(
      'zoo',
      'REASSIGN OWNED BY nexus_owner TO postgres; DROP OWNED BY nexus_reader, nexus_owner;',
    );
  });

  it('are left out by default (like pg_dump --no-owner --no-privileges)', async () => {
    const { text } = await dump({ db: sourceUrl });
    expect(text).not.toMatch(/OWNER TO|GRANT |REVOKE /);
  });

  it('owners and privileges reproduce every owner and ACL', async () => {
    const { file, text } = await dump({ db: sourceUrl, owners: true, privileges: true });
    expect(text).toContain('ALTER TABLE app.cache OWNER TO nexus_owner;');
    const url = await restoreWithPsql(file);
    expect(await describeDatabase(url)).toEqual(await describeDatabase(sourceUrl));
  });
});

describe('describe', () => {
  it('names the server, size, schemas and tables, and never the password', async () => {
    const source = await createSource({ db: sourceUrl });
    const description = await source.describe(createTestContext());
    expect(description).toMatchObject({
      host: '127.0.0.1',
      port: server.port,
      database: 'zoo',
      user: 'postgres',
      serverVersionNum: server.versionNum,
    });
    expect(description.databaseBytes).toBeGreaterThan(0);
    expect(description.schemas).toEqual(['Odd Schema', 'app', 'public']);
    expect(description.tables).toContainEqual(expect.objectContaining({ name: 'app.zoo' }));
    expect(JSON.stringify(description)).not.toContain(server.password);
  });
});

describe('objects the dump cannot write', () => {
  it('fail the dump, each named by kind and name; allowIncomplete records them in meta.leftOut instead', async () => {
    await server.admin.createDatabase('unsupported');
    await server.admin.exec(
      'unsupported',
      `CREATE TABLE t (a integer, b integer);
       CREATE SUBSCRIPTION sub_b CONNECTION 'host=127.0.0.1 port=1 dbname=nowhere' PUBLICATION p WITH (connect = false);
       CREATE SUBSCRIPTION sub_a CONNECTION 'host=127.0.0.1 port=1 dbname=nowhere' PUBLICATION p WITH (connect = false);
       CREATE ROLE nexus_gap_dumper LOGIN PASSWORD '${server.password}';
       GRANT SELECT ON t TO nexus_gap_dumper;`,
    );
    // Only a superuser may read a subscription's connection string: for anyone else it is a gap.
    const readerUrl = `postgresql://nexus_gap_dumper:${server.password}@${server.host}:${server.port}/unsupported`;
    const gap = '(only a superuser may read its connection string)';
    await expect(dump({ db: readerUrl })).rejects.toThrow(
      `cannot write 2 objects of this database: subscription sub_a ${gap}; subscription sub_b ${gap}`,
    );
    const { meta, text } = await dump({ db: readerUrl, allowIncomplete: true });
    expect(meta.leftOut).toEqual([
      { kind: 'subscription', name: `sub_a ${gap}` },
      { kind: 'subscription', name: `sub_b ${gap}` },
    ]);
    expect(text).toContain('CREATE TABLE public.t');
  });
});

describe('output', () => {
  it('is deterministic: two dumps of an unchanged database differ only in the snapshot line', async () => {
    // Every artifact starts with the header naming the snapshot.
    const withoutSnapshot = (text: string) => text.replace(/^-- Server .*$/gm, '');
    const first = await dump({ db: sourceUrl });
    const second = await dump({ db: sourceUrl });
    expect(first.text).not.toEqual(second.text);
    expect(withoutSnapshot(first.text)).toEqual(withoutSnapshot(second.text));
  });
});
