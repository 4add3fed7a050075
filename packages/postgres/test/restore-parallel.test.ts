import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isNexusError, type NexusError } from '@nexus-backup/core';
import { createTestContext } from '@nexus-backup/testkit';
import {
  POSTGRES_MAJORS,
  type PostgresMajor,
  type PostgresServer,
  startPostgres,
} from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreSql } from '../src/restore/index.js';
import { backupToFile, loadFixtureSet, loadZoo } from './dump-support.js';
import { chunked, databaseExists, withClient } from './restore-support.js';

// NEXUS_TEST_PG_MAJORS=16,18 narrows the matrix for a quick local run; CI runs every major.
const majors = (process.env.NEXUS_TEST_PG_MAJORS?.split(',').map(Number) ?? [
  ...POSTGRES_MAJORS,
]) as PostgresMajor[];

const SAMPLE = join(import.meta.dirname, '../../../examples/sample-service');

describe.each(majors)('PostgreSQL %i: restore --create-db --jobs', (major) => {
  let server: PostgresServer;
  let dir: string;
  const dumps: Record<string, string> = {};

  beforeAll(async () => {
    server = await startPostgres({ major });
    dir = await mkdtemp(join(tmpdir(), 'nexus-restore-jobs-'));
    // Every object kind (partitioned tables, exclusion constraints, foreign keys to partitions)...
    const zoo = await server.admin.createDatabase('zoo');
    await loadZoo(zoo, major);
    await loadFixtureSet(zoo, major, 'zoo-schema-kinds');
    // ...and the service's tables: several indexes per table, a GIN index on JSONB, foreign keys.
    await server.admin.createDatabase('app');
    await server.admin.exec('app', await readFile(join(SAMPLE, 'schema.sql'), 'utf8'));
    await server.admin.exec('app', await readFile(join(SAMPLE, 'seed.sql'), 'utf8'));
    await server.admin.exec('app', 'SELECT seed_sample_service(300, 4)');
    for (const name of ['zoo', 'app']) {
      dumps[name] = join(dir, `${name}.sql`);
      await backupToFile({ db: server.url(name) }, dumps[name], createTestContext());
    }
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function restore(source: string, name: string, jobs: number) {
    return restoreSql({
      input: createReadStream(dumps[source] as string),
      target: { db: server.url('postgres'), createDb: name },
      jobs,
      ctx: createTestContext(),
    });
  }

  it.each(['zoo', 'app'])(
    'the %s database restored with --jobs 4 equals the one restored with --jobs 1, and the source',
    async (source) => {
      const one = await restore(source, `${source}_jobs1`, 1);
      const four = await restore(source, `${source}_jobs4`, 4);
      expect(one.details.parallelStatements).toBeUndefined();
      // Index, key and foreign key builds ran on the other connections.
      expect(four.details.parallelStatements).toBeGreaterThan(source === 'app' ? 5 : 0);
      const original = await describeDatabase(server.url(source));
      expect(await describeDatabase(server.url(`${source}_jobs4`))).toEqual(original);
      expect(await describeDatabase(server.url(`${source}_jobs1`))).toEqual(original);
      const rows = await tableChecksums(server.url(source));
      expect(await tableChecksums(server.url(`${source}_jobs4`))).toEqual(rows);
      expect(await tableChecksums(server.url(`${source}_jobs1`))).toEqual(rows);
    },
  );

  it('a unique index failing on one connection cancels the builds on the others and drops the new database', async () => {
    // Duplicates in `dup` make its unique index fail, while a slow index on `slow` is building.
    const script = [
      'SET statement_timeout = 0;',
      'CREATE FUNCTION public.slowly(v integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM pg_catalog.pg_sleep(0.05); RETURN v; END $$;',
      'CREATE TABLE public.slow (v integer);',
      'CREATE TABLE public.dup (v integer);',
      'COPY public.slow (v) FROM stdin;',
      ...Array.from({ length: 2000 }, (_, i) => String(i)),
      '\\.',
      'COPY public.dup (v) FROM stdin;',
      '1',
      '1',
      '\\.',
      'CREATE INDEX slow_idx ON public.slow USING btree (public.slowly(v));',
      'CREATE UNIQUE INDEX dup_v ON public.dup USING btree (v);',
      '',
    ].join('\n');
    let failure: NexusError | undefined;
    try {
      await restoreSql({
        input: chunked(script, 4096),
        target: { db: server.url('postgres'), createDb: 'fails' },
        jobs: 2,
        ctx: createTestContext(),
      });
    } catch (error) {
      if (!isNexusError(error)) throw error;
      failure = error;
    }
    expect(failure?.message).toMatch(/line \d+ failed: could not create unique index "dup_v"/);
    expect(failure?.message).toContain('no database "fails" was created');
    expect(await databaseExists(server, 'fails')).toBe(false);
    // Neither the temporary database nor the slow build outlives the restore.
    await withClient(server.url('postgres'), async (client) => {
      const left = await client.query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'nexus\\_restore\\_%'",
      );
      expect(left.rows).toEqual([]);
      const running = await client.query(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE '%slow_idx%' AND pid <> pg_backend_pid()",
      );
      expect(running.rows).toEqual([]);
    });
  });

  it('an abort during the parallel builds rejects as aborted and leaves no database and no running build', async () => {
    const script = [
      'CREATE FUNCTION public.slowly(v integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM pg_catalog.pg_sleep(0.05); RETURN v; END $$;',
      'CREATE TABLE public.slow (v integer);',
      'COPY public.slow (v) FROM stdin;',
      ...Array.from({ length: 2000 }, (_, i) => String(i)),
      '\\.',
      'CREATE INDEX slow_a ON public.slow USING btree (public.slowly(v));',
      'CREATE INDEX slow_b ON public.slow USING btree (public.slowly(v + 1));',
      '',
    ].join('\n');
    const controller = new AbortController();
    const restoring = restoreSql({
      input: chunked(script, 4096),
      target: { db: server.url('postgres'), createDb: 'aborted' },
      jobs: 2,
      ctx: createTestContext({ signal: controller.signal }),
    });
    // Abort once both builds run on their connections.
    await withClient(server.url('postgres'), async (client) => {
      for (;;) {
        const { rows } = await client.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX slow_%'",
        );
        if (rows[0]?.n === 2) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
    controller.abort();
    await expect(restoring).rejects.toMatchObject({ code: 'ABORTED' });
    expect(await databaseExists(server, 'aborted')).toBe(false);
    await withClient(server.url('postgres'), async (client) => {
      const left = await client.query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'nexus\\_restore\\_%'",
      );
      expect(left.rows).toEqual([]);
      const running = await client.query(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX slow_%'",
      );
      expect(running.rows).toEqual([]);
    });
  });

  it('--jobs above 1 into an existing database is refused before anything connects', async () => {
    await expect(
      restoreSql({
        input: chunked('SELECT 1;\n', 16),
        target: { db: server.url('postgres') },
        jobs: 2,
        ctx: createTestContext(),
      }),
    ).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('--jobs above 1 needs --create-db'),
    });
  });
});
