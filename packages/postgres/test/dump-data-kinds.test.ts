import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
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
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LARGE_OBJECT_CHUNK } from '../src/dump/large-object-out.js';
import { loadDataKinds } from './data-kinds-support.js';
import { backupToFile, createSource, psqlFile } from './dump-support.js';

// NEXUS_TEST_PG_MAJORS=16,18 narrows the matrix for a quick local run; CI runs every major.
const majors = (process.env.NEXUS_TEST_PG_MAJORS?.split(',').map(Number) ?? [
  ...POSTGRES_MAJORS,
]) as PostgresMajor[];
const pgDumpMajor = machinePgDumpMajor();

async function query<R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

// The data and privilege kinds of issue 13, dumped with owners and privileges (like pg_dump's default).
describe.each(majors)(
  'PostgreSQL %i: large objects, publications, subscriptions, extension data, privileges',
  (major) => {
    let server: PostgresServer;
    let dir: string;
    let sourceUrl: string;
    let dumpFile: string;
    let uninstallExtension: (() => Promise<void>) | undefined;
    const lines: string[] = [];

    beforeAll(async () => {
      server = await startPostgres({ major });
      dir = await mkdtemp(join(tmpdir(), 'nexus-data-kinds-'));
      sourceUrl = await server.admin.createDatabase('kinds');
      uninstallExtension = await loadDataKinds(server, sourceUrl);
      dumpFile = join(dir, 'database.sql');
      await backupToFile(
        { db: sourceUrl, owners: true, privileges: true, databaseSettings: true },
        dumpFile,
        createTestContext({ lines }),
      );
    });

    afterAll(async () => {
      await uninstallExtension?.();
      await server?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('dumps every kind of the fixture without a warning', () => {
      expect(lines.filter((line) => line.startsWith('warn'))).toEqual([]);
    });

    it('psql restores the dump with the same catalog, large objects (by checksum) and rows', async () => {
      const restoredUrl = await server.admin.createDatabase('by_psql');
      await psqlFile(restoredUrl, dumpFile);
      expect(await describeDatabase(restoredUrl)).toEqual(await describeDatabase(sourceUrl));
      expect(await tableChecksums(restoredUrl)).toEqual(await tableChecksums(sourceUrl));
    });

    it('the source restore (new database, without psql) gives the same catalog, large objects and rows', async () => {
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

    if (pgDumpMajor === major) {
      it("our restore loads pg_dump's own plain output, its BEGIN/lo_open/lowrite/COMMIT large objects in one transaction", async () => {
        const file = join(dir, 'pg_dump.sql');
        execFileSync('pg_dump', ['--format=plain', '--file', file, sourceUrl]);
        expect(await readFile(file, 'utf8')).toContain('SELECT pg_catalog.lowrite(0, ');
        const source = await createSource({ db: sourceUrl });
        const { size } = await stat(file);
        async function* artifacts(): AsyncIterable<RestoreArtifact> {
          yield { name: 'database.sql', stream: createReadStream(file), rawBytes: size, meta: {} };
        }
        await source.restore(createTestContext(), artifacts(), {
          db: sourceUrl,
          createDb: 'from_pg_dump',
          singleTransaction: true,
        });
        const restored = await describeDatabase(server.url('from_pg_dump'));
        const largeObjects = (text: string) =>
          text.split('\n').filter((line) => line.startsWith('large object '));
        expect(largeObjects(restored)).toEqual(largeObjects(await describeDatabase(sourceUrl)));
        expect(await tableChecksums(server.url('from_pg_dump'))).toEqual(await tableChecksums(sourceUrl));

        // The script's own COMMIT after its large objects must not end our transaction half way:
        // a failure at the very end leaves the target empty, large objects included.
        const failing = join(dir, 'pg_dump-failing.sql');
        await writeFile(failing, `${await readFile(file, 'utf8')}\nSELECT 1 / 0;\n`);
        const emptyUrl = await server.admin.createDatabase('pg_dump_rolled_back');
        async function* failingArtifacts(): AsyncIterable<RestoreArtifact> {
          const { size: failingSize } = await stat(failing);
          yield { name: 'database.sql', stream: createReadStream(failing), rawBytes: failingSize, meta: {} };
        }
        await expect(
          source.restore(createTestContext(), failingArtifacts(), { db: emptyUrl, singleTransaction: true }),
        ).rejects.toThrow(/division by zero/);
        expect(largeObjects(await describeDatabase(emptyUrl))).toEqual([]);
        expect(await tableChecksums(emptyUrl)).toEqual({});
      });

      it("pg_dump --schema-only of the restored database equals the original's", async () => {
        const restoredUrl = await server.admin.createDatabase('by_psql_for_pg_dump');
        await psqlFile(restoredUrl, dumpFile);
        expect(pgDumpSchema(restoredUrl)).toEqual(pgDumpSchema(sourceUrl));
      });
    }

    it('writes the several-MiB large object as bounded lo_put chunks, never as one statement', async () => {
      const text = await readFile(dumpFile, 'utf8');
      const chunks = text.split('\n').filter((line) => line.startsWith("SELECT pg_catalog.lo_put('424240'"));
      const [{ bytes }] = await query<{ bytes: number }>(sourceUrl, 'SELECT length(lo_get(424240)) AS bytes');
      expect(bytes).toBeGreaterThan(4 * 1024 * 1024);
      expect(chunks).toHaveLength(Math.ceil(bytes / LARGE_OBJECT_CHUNK));
      for (const chunk of chunks) expect(chunk.length).toBeLessThan(2 * LARGE_OBJECT_CHUNK + 100);
    });

    it('restores subscriptions disabled and without a slot of their own: a restore never connects', async () => {
      const text = await readFile(dumpFile, 'utf8');
      expect(text).toMatch(
        /CREATE SUBSCRIPTION sub_off CONNECTION '[^']*' PUBLICATION pub_a, "Pub B" WITH \(connect = false, slot_name = 'sub_off_slot'/,
      );
      const restored = await query<{ subname: string; subenabled: boolean }>(
        server.url('by_psql'),
        "SELECT subname, subenabled FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = 'by_psql') ORDER BY 1",
      );
      expect(restored.length).toBeGreaterThanOrEqual(2);
      expect(restored.filter((row) => row.subenabled)).toEqual([]);
    });

    it("applies the database's settings and comment to the restored database under its own name", async () => {
      const described = await describeDatabase(server.url('by_nexus'));
      expect(described).toContain("database setting - nexus.note=it's 100% %I here\n");
      expect(described).toContain('database setting - search_path="$user", public, kinds\n');
      expect(described).toContain('database setting nexus_kinds_reader statement_timeout=5s\n');
      expect(described).toContain('database comment the kinds database\n');
      expect(await readFile(dumpFile, 'utf8')).not.toMatch(/DATABASE "?kinds"? /);
    });

    it('creates the extension at its dumped version and loads only the rows its filter selects', async () => {
      const text = await readFile(dumpFile, 'utf8');
      expect(text).toContain("CREATE EXTENSION IF NOT EXISTS nexus_kinds_ext WITH SCHEMA ext VERSION '1.0';");
      expect(text).toContain('COPY ext.nexus_settings (key, value, builtin) FROM stdin;');
      expect(text).not.toContain('shipped with the extension');
      const rows = await query<{ key: string }>(
        server.url('by_psql'),
        'SELECT key FROM ext.nexus_settings ORDER BY 1',
      );
      expect(rows.map((row) => row.key)).toEqual(['builtin-a', 'user-b', 'user-c']);
    });
  },
);
