import { Readable } from 'node:stream';
import type { RestoreArtifact } from '@nexus-backup/core';
import { createTestContext } from '@nexus-backup/testkit';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreSql } from '../src/restore/index.js';
import { restorePerTable } from '../src/restore/per-table-restore.js';
import { inheritanceTables, planPostData, readPostData } from '../src/restore/post-data-plan.js';
import { notNullColumns } from '../src/restore/split-key-build.js';
import { backupArtifacts, EDGE_MAJORS, type HeldArtifact, restoreArtifacts } from './per-table-support.js';
import { databaseExists, withClient } from './restore-support.js';

const majors = EDGE_MAJORS;

/** Keys of the plain form (built as index, then attach) and every form that keeps its single statement. */
function keysSchema(major: number): string {
  return `
    CREATE TABLE chunks (id bigint PRIMARY KEY, request_id integer NOT NULL, chunk_index integer NOT NULL, body text,
      CONSTRAINT chunks_request_id_chunk_index_key UNIQUE (request_id, chunk_index));
    CREATE INDEX chunks_request_id ON chunks (request_id);
    COMMENT ON CONSTRAINT chunks_pkey ON chunks IS 'one row per chunk';
    COMMENT ON CONSTRAINT chunks_request_id_chunk_index_key ON chunks IS 'a chunk once per request';
    CREATE TABLE pairs (a integer, b text COLLATE "C", CONSTRAINT pairs_pkey PRIMARY KEY (b, a));
    CREATE TABLE "Odd Table" ("Id" integer, "Mixed ""Name""" text, "order" integer,
      CONSTRAINT "Odd Key" PRIMARY KEY ("Id"), CONSTRAINT "odd unique" UNIQUE ("Mixed ""Name""", "order"));
    CREATE TABLE refs (id integer PRIMARY KEY, chunk_id bigint REFERENCES chunks, pair_b text, pair_a integer,
      FOREIGN KEY (pair_b, pair_a) REFERENCES pairs);
    CREATE TABLE included (id integer, extra integer, CONSTRAINT included_pkey PRIMARY KEY (id) INCLUDE (extra));
    CREATE TABLE deferred (id integer, CONSTRAINT deferred_pkey PRIMARY KEY (id) DEFERRABLE,
      CONSTRAINT deferred_id_key UNIQUE (id) DEFERRABLE INITIALLY DEFERRED);
    CREATE TABLE spans (id integer, during int4range, CONSTRAINT spans_no_overlap EXCLUDE USING gist (during WITH &&));
    CREATE TABLE parted (id integer, CONSTRAINT parted_pkey PRIMARY KEY (id)) PARTITION BY RANGE (id);
    CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (1000);
    CREATE TABLE parent (id integer CONSTRAINT parent_pkey PRIMARY KEY);
    CREATE TABLE child (note text) INHERITS (parent);
    ALTER TABLE child ADD CONSTRAINT child_pkey PRIMARY KEY (id);
    ${major >= 15 ? 'CREATE TABLE nulls_same (v integer, CONSTRAINT nulls_same_v_key UNIQUE NULLS NOT DISTINCT (v));' : ''}
    INSERT INTO chunks SELECT g, g / 4, g % 4, md5(g::text) FROM generate_series(1, 2000) AS g;
    INSERT INTO pairs SELECT g, 'b' || g FROM generate_series(1, 50) AS g;
    INSERT INTO "Odd Table" SELECT g, 'n' || g, g FROM generate_series(1, 50) AS g;
    INSERT INTO refs SELECT g, g, 'b' || g, g FROM generate_series(1, 50) AS g;
    INSERT INTO included SELECT g, g FROM generate_series(1, 50) AS g;
    INSERT INTO deferred SELECT g FROM generate_series(1, 50) AS g;
    INSERT INTO spans SELECT g, int4range(g * 10, g * 10 + 5) FROM generate_series(1, 50) AS g;
    INSERT INTO parted SELECT g FROM generate_series(1, 50) AS g;
    INSERT INTO child SELECT g, 'c' FROM generate_series(1, 50) AS g;`;
}

/** Each key constraint with what describeDatabase leaves out: its index, whether that is the primary one, and their link. */
async function keyLinks(url: string): Promise<string[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ line: string }>(`
      SELECT co.conrelid::regclass::text || '.' || co.conname || ' type=' || co.contype::text
          || ' index=' || co.conindid::regclass::text || ' primary=' || i.indisprimary || ' unique=' || i.indisunique
          || ' immediate=' || i.indimmediate || ' ready=' || i.indisready || ' valid=' || i.indisvalid
          || ' depends=' || coalesce((SELECT string_agg(d.deptype::text, ',') FROM pg_depend d
               WHERE d.classid = 'pg_class'::regclass AND d.objid = co.conindid
                 AND d.refclassid = 'pg_constraint'::regclass AND d.refobjid = co.oid), '-') AS line
        FROM pg_constraint co JOIN pg_index i ON i.indexrelid = co.conindid
       WHERE co.contype IN ('p', 'u', 'x') AND co.connamespace = 'public'::regnamespace
       ORDER BY 1`);
    return rows.map((row) => row.line);
  });
}

describe.each(majors)(
  'PostgreSQL %i: restore --jobs builds a key as its index, then attaches it',
  (major) => {
    let server: PostgresServer;
    let keys: HeldArtifact[];
    let chunksOnly: HeldArtifact[];

    beforeAll(async () => {
      server = await startPostgres({ major });
      await server.admin.createDatabase('keys');
      await server.admin.exec('keys', keysSchema(major));
      // One table, so its builds are all that is left once its rows commit.
      await server.admin.createDatabase('chunks_only');
      await server.admin.exec(
        'chunks_only',
        `CREATE TABLE chunks (id bigint PRIMARY KEY, request_id integer NOT NULL, chunk_index integer NOT NULL,
         CONSTRAINT chunks_request_id_chunk_index_key UNIQUE (request_id, chunk_index));
       CREATE INDEX chunks_request_id ON chunks (request_id);
       INSERT INTO chunks SELECT g, g / 4, g % 4 FROM generate_series(1, 2000) AS g;`,
      );
      keys = await backupArtifacts(server.url('keys'));
      chunksOnly = await backupArtifacts(server.url('chunks_only'));
    });

    afterAll(async () => {
      await server?.stop();
    });

    function restore(held: HeldArtifact[], createDb: string, jobs: number) {
      const rest = restoreArtifacts(held);
      return rest.next().then((first) => {
        if (first.done) throw new Error('no artifacts');
        const target = { db: server.url('postgres'), createDb };
        return restorePerTable({ preData: first.value, rest, target, jobs, ctx: createTestContext() });
      });
    }

    it('splits exactly the plain primary keys and unique constraints of plain tables with NOT NULL key columns', async () => {
      const postData = keys.at(-1) as HeldArtifact;
      const artifact: RestoreArtifact = {
        name: postData.name,
        meta: postData.meta,
        rawBytes: postData.bytes.length,
        stream: Readable.from([postData.bytes]),
      };
      const plan = await withClient(server.url('keys'), async (client) =>
        planPostData(
          await readPostData(artifact),
          await inheritanceTables(client),
          await notNullColumns(client),
        ),
      );
      const attached = plan.early.flatMap(
        (statement) =>
          /ADD CONSTRAINT (.*) (?:PRIMARY KEY|UNIQUE) USING INDEX/.exec(statement.event.sql)?.[1] ?? [],
      );
      expect(attached.sort()).toEqual([
        '"Odd Key"',
        '"odd unique"',
        'chunks_pkey',
        'chunks_request_id_chunk_index_key',
        'pairs_pkey',
        'refs_pkey',
      ]);
      const single = [
        ...plan.early.map((statement) => statement.event.sql),
        ...plan.rest.map((event) => event.sql),
      ];
      for (const name of ['included_pkey', 'deferred_pkey', 'deferred_id_key', 'spans_no_overlap']) {
        expect(single.filter((sql) => sql.includes(`ADD CONSTRAINT ${name} `))).toHaveLength(1);
      }
      for (const name of [
        'parted_pkey',
        'parent_pkey',
        'child_pkey',
        ...(major >= 15 ? ['nulls_same_v_key'] : []),
      ]) {
        expect(
          single.filter((sql) => new RegExp(`ADD CONSTRAINT ${name} (PRIMARY KEY|UNIQUE) [(N]`).test(sql)),
        ).toHaveLength(1);
      }
    });

    it('restores the same keys, indexes, NOT NULLs and comments as the source and a --single-transaction restore', async () => {
      const parallel = await restore(keys, 'keys_jobs2', 2);
      expect(parallel.details).toMatchObject({ jobs: 2 });
      await restoreSql({
        input: Readable.from([Buffer.concat(keys.map((artifact) => artifact.bytes))]),
        target: { db: server.url('postgres'), createDb: 'keys_single' },
        singleTransaction: true,
        ctx: createTestContext(),
      });
      const original = await describeDatabase(server.url('keys'));
      expect(await describeDatabase(server.url('keys_jobs2'))).toEqual(original);
      expect(await describeDatabase(server.url('keys_single'))).toEqual(original);
      const links = await keyLinks(server.url('keys'));
      expect(
        links.some((line) => line.startsWith('chunks.chunks_pkey type=p index=chunks_pkey primary=true')),
      ).toBe(true);
      expect(await keyLinks(server.url('keys_jobs2'))).toEqual(links);
      expect(await keyLinks(server.url('keys_single'))).toEqual(links);
      expect(await tableChecksums(server.url('keys_jobs2'))).toEqual(
        await tableChecksums(server.url('keys')),
      );
    });

    it("runs two builds of one table's keys and indexes at the same time on two connections", async () => {
      const restored = await restore(chunksOnly, 'chunks_jobs2', 2);
      expect(restored.details).toMatchObject({ phases: { mostOnOneTable: 2 } });
      expect(await describeDatabase(server.url('chunks_jobs2'))).toEqual(
        await describeDatabase(server.url('chunks_only')),
      );
      expect(await keyLinks(server.url('chunks_jobs2'))).toEqual(await keyLinks(server.url('chunks_only')));
    });

    it('a duplicate key fails its index build, naming the script line and statement, and drops the new database', async () => {
      // Row 2 given row 1's id: the primary key breaks, the unique constraint on (request_id, chunk_index) does not.
      const duplicated = chunksOnly.map((artifact) => {
        if (artifact.meta.part !== 'data') return artifact;
        const text = artifact.bytes.toString('utf8');
        expect(text).toContain('\n1\t0\t1\n2\t0\t2\n');
        return { ...artifact, bytes: Buffer.from(text.replace('\n2\t0\t2\n', '\n1\t0\t2\n')) };
      });
      const failure = await restore(duplicated, 'chunks_duplicate', 2).then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(failure?.message).toMatch(
        /^the statement at line \d+ failed: .*could not create unique index "chunks_pkey".*; statement: CREATE UNIQUE INDEX chunks_pkey ON public\.chunks USING btree \(id\);; no database "chunks_duplicate" was created$/,
      );
      expect(await databaseExists(server, 'chunks_duplicate')).toBe(false);
    });
  },
);
