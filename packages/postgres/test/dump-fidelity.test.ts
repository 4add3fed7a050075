import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RestoreArtifact } from '@nexus-backup/core';
import { createTestContext } from '@nexus-backup/testkit';
import {
  POSTGRES_MAJORS,
  type PostgresMajor,
  type PostgresServer,
  startPostgres,
} from '@nexus-backup/testkit/postgres';
import {
  describeDatabase,
  machinePgDumpMajor,
  pgDumpSchema,
  tableChecksums,
} from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupToFile, createSource, loadFixtureSet, loadZoo, psqlFile } from './dump-support.js';

// NEXUS_TEST_PG_MAJORS=16,18 narrows the matrix for a quick local run; CI runs every major.
const majors = (process.env.NEXUS_TEST_PG_MAJORS?.split(',').map(Number) ?? [
  ...POSTGRES_MAJORS,
]) as PostgresMajor[];
const pgDumpMajor = machinePgDumpMajor();

describe.each(majors)('PostgreSQL %i: dump fidelity', (major) => {
  let server: PostgresServer;
  let dir: string;
  let sourceUrl: string;
  let dumpFile: string;
  let rows: unknown;
  const lines: string[] = [];

  beforeAll(async () => {
    server = await startPostgres({ major });
    dir = await mkdtemp(join(tmpdir(), 'nexus-dump-'));
    sourceUrl = await server.admin.createDatabase('zoo');
    await loadZoo(sourceUrl, major);
    await loadFixtureSet(sourceUrl, major, 'zoo-schema-kinds');
    dumpFile = join(dir, 'database.sql');
    const { meta } = await backupToFile({ db: sourceUrl }, dumpFile, createTestContext({ lines }));
    rows = meta.rows;
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('dumps every object kind of the fixture without a warning', () => {
    expect(lines.filter((line) => line.startsWith('warn'))).toEqual([]);
  });

  it('psql -v ON_ERROR_STOP=1 restores the dump as is, with the same catalog and the same rows in every table', async () => {
    const restoredUrl = await server.admin.createDatabase('by_psql');
    await psqlFile(restoredUrl, dumpFile);
    expect(await describeDatabase(restoredUrl)).toEqual(await describeDatabase(sourceUrl));
    expect(await tableChecksums(restoredUrl)).toEqual(await tableChecksums(sourceUrl));
  });

  // Only where the machine's pg_dump is of the server's major (15 here): pg_dump refuses newer servers.
  if (pgDumpMajor === major) {
    it("pg_dump --schema-only of the restored database equals the original's", async () => {
      const restoredUrl = await server.admin.createDatabase('by_psql_for_pg_dump');
      await psqlFile(restoredUrl, dumpFile);
      expect(pgDumpSchema(restoredUrl)).toEqual(pgDumpSchema(sourceUrl));
    });
  }

  it('the source restore (into a new database, without psql) gives the same catalog and rows', async () => {
    const source = await createSource({ db: sourceUrl });
    const { size } = await stat(dumpFile);
    async function* artifacts(): AsyncIterable<RestoreArtifact> {
      yield { name: 'database.sql', stream: createReadStream(dumpFile), rawBytes: size, meta: {} };
    }
    await source.restore(createTestContext(), artifacts(), {
      db: sourceUrl,
      createDb: 'by_nexus',
      singleTransaction: true,
    });
    const restoredUrl = server.url('by_nexus');
    expect(await describeDatabase(restoredUrl)).toEqual(await describeDatabase(sourceUrl));
    expect(await tableChecksums(restoredUrl)).toEqual(await tableChecksums(sourceUrl));
  });

  it('records exact per-table row counts, counted from the COPY stream', async () => {
    const sums = await tableChecksums(sourceUrl);
    for (const [table, sum] of Object.entries(sums)) {
      const name = table.replaceAll('"', '');
      // Materialized views are refreshed on restore, not copied.
      if (name === 'app.order_totals' || name === 'app.top_customers' || name === 'app.never_filled')
        continue;
      expect((rows as Record<string, number>)[name], table).toBe(Number(sum.split(' ')[0]));
    }
  });

  it('writes data as COPY blocks after the tables and before the keys, indexes and triggers', async () => {
    const text = await readFile(dumpFile, 'utf8');
    const firstCopy = text.indexOf('\nCOPY ');
    expect(firstCopy).toBeGreaterThan(text.indexOf('CREATE TABLE app.zoo'));
    expect(firstCopy).toBeLessThan(text.indexOf('ADD CONSTRAINT customers_pkey'));
    expect(text.lastIndexOf('\n\\.\n')).toBeLessThan(text.indexOf('CREATE TRIGGER'));
    expect(text.lastIndexOf('\n\\.\n')).toBeLessThan(text.indexOf('CREATE INDEX customers_lower_name_idx'));
    expect(text.indexOf('REFRESH MATERIALIZED VIEW app.order_totals')).toBeLessThan(
      text.indexOf('REFRESH MATERIALIZED VIEW app.top_customers'),
    );
    expect(text).not.toContain('REFRESH MATERIALIZED VIEW app.never_filled');
    expect(text).not.toMatch(/OWNER TO|GRANT /);
  });
});
