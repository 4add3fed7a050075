import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { isNexusError, type NexusError } from '@nexus-backup/core';
import { createTestContext } from '@nexus-backup/testkit';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restorePerTable } from '../src/restore/per-table-restore.js';
import { loadFixtureSet, loadZoo } from './dump-support.js';
import { backupArtifacts, EDGE_MAJORS, type HeldArtifact, restoreArtifacts } from './per-table-support.js';
import { databaseExists, withClient } from './restore-support.js';

const majors = EDGE_MAJORS;

const SAMPLE = join(import.meta.dirname, '../../../examples/sample-service');

describe.each(majors)('PostgreSQL %i: parallel restore of a per-table backup', (major) => {
  let server: PostgresServer;
  const backups: Record<string, HeldArtifact[]> = {};

  beforeAll(async () => {
    server = await startPostgres({ major });
    // Every object kind (partitioned tables, large objects, exclusion constraints, foreign keys to partitions)...
    const zoo = await server.admin.createDatabase('zoo');
    await loadZoo(zoo, major);
    await loadFixtureSet(zoo, major, 'zoo-schema-kinds');
    // ...and the service's tables: several indexes per table, a GIN index on JSONB, foreign keys.
    await server.admin.createDatabase('app');
    await server.admin.exec('app', await readFile(join(SAMPLE, 'schema.sql'), 'utf8'));
    await server.admin.exec('app', await readFile(join(SAMPLE, 'seed.sql'), 'utf8'));
    await server.admin.exec('app', 'SELECT seed_sample_service(300, 4)');
    // Two tables large enough (8 MiB) for data artifacts of their own, small ones grouped, keys between them.
    await server.admin.createDatabase('big');
    await server.admin.exec(
      'big',
      `CREATE TABLE big_a (id integer PRIMARY KEY, payload text);
       CREATE TABLE big_b (id integer, a_id integer REFERENCES big_a, payload text);
       CREATE INDEX big_b_payload ON big_b (payload);
       CREATE TABLE small (id serial PRIMARY KEY, note text);
       INSERT INTO big_a SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 70000) AS g;
       INSERT INTO big_b SELECT g, g, repeat(md5((-g)::text), 4) FROM generate_series(1, 60000) AS g;
       INSERT INTO small (note) SELECT 'note ' || g FROM generate_series(1, 100) AS g;`,
    );
    for (const name of ['zoo', 'app', 'big']) backups[name] = await backupArtifacts(server.url(name));
  });

  afterAll(async () => {
    await server?.stop();
  });

  function restore(
    held: HeldArtifact[],
    target: { db: string; createDb?: string },
    jobs: number,
    streamOf?: Parameters<typeof restoreArtifacts>[1],
    ctx = createTestContext(),
  ) {
    const rest = restoreArtifacts(held, streamOf);
    return rest.next().then((first) => {
      if (first.done) throw new Error('no artifacts');
      return restorePerTable({ preData: first.value, rest, target, jobs, ctx });
    });
  }

  it.each(['zoo', 'app', 'big'])(
    'the %s backup restored with --jobs 4 equals the one restored with --jobs 1, and the source',
    async (source) => {
      const held = backups[source] as HeldArtifact[];
      const one = await restore(held, { db: server.url('postgres'), createDb: `${source}_jobs1` }, 1);
      const four = await restore(held, { db: server.url('postgres'), createDb: `${source}_jobs4` }, 4);
      expect(one.details).toMatchObject({ jobs: 1 });
      expect(four.details).toMatchObject({ jobs: 4 });
      const original = await describeDatabase(server.url(source));
      expect(await describeDatabase(server.url(`${source}_jobs4`))).toEqual(original);
      expect(await describeDatabase(server.url(`${source}_jobs1`))).toEqual(original);
      const rows = await tableChecksums(server.url(source));
      expect(await tableChecksums(server.url(`${source}_jobs4`))).toEqual(rows);
      expect(await tableChecksums(server.url(`${source}_jobs1`))).toEqual(rows);
    },
  );

  it('loads each data artifact of its own table with COPY FREEZE: every row is frozen', async () => {
    const held = backups.big as HeldArtifact[];
    expect(held.map((artifact) => artifact.name)).toEqual([
      'pre-data.sql',
      'data-0001.sql',
      'data-0002.sql',
      'data-0003.sql',
      'post-data.sql',
    ]);
    await restore(held, { db: server.url('postgres'), createDb: 'big_frozen' }, 2);
    await withClient(server.url('big_frozen'), async (client) => {
      // A frozen tuple has both xmin hint bits set (HEAP_XMIN_FROZEN = 0x0300); a plain COPY sets neither.
      await client.query('CREATE EXTENSION pageinspect');
      const { rows } = await client.query(
        `SELECT t.relname AS t, count(*)::int AS tuples,
                count(*) FILTER (WHERE (i.t_infomask & 768) <> 768)::int AS unfrozen
           FROM pg_class t,
                generate_series(0, pg_relation_size(t.oid) / 8192 - 1) AS block,
                heap_page_items(get_raw_page(t.relname, block::int)) AS i
          WHERE t.relname IN ('big_a', 'big_b', 'small') AND i.lp_flags = 1
          GROUP BY t.relname ORDER BY 1`,
      );
      expect(rows).toEqual([
        { t: 'big_a', tuples: 70000, unfrozen: 0 },
        { t: 'big_b', tuples: 60000, unfrozen: 0 },
        { t: 'small', tuples: 100, unfrozen: 0 },
      ]);
    });
  });

  it('opens no more artifact streams at once than it has connections', async () => {
    const held = backups.big as HeldArtifact[];
    let open = 0;
    let most = 0;
    // In small chunks, so a stream stays open while its load reads it (as a repository read does).
    const streamOf = (artifact: HeldArtifact) => {
      const chunks = [];
      for (let at = 0; at < artifact.bytes.length; at += 16 * 1024)
        chunks.push(artifact.bytes.subarray(at, at + 16 * 1024));
      const stream = Readable.from(chunks, { objectMode: false, highWaterMark: 16 * 1024 });
      most = Math.max(most, ++open);
      stream.once('close', () => open--);
      return stream;
    };
    await restore(held, { db: server.url('postgres'), createDb: 'big_one_open' }, 1, streamOf);
    expect(most).toBe(1);
    // A stream counts from its first read (as a repository read opens): whether the second load reads
    // before the first one's stream ended depends on timing, so only the bound is asserted.
    await restore(held, { db: server.url('postgres'), createDb: 'big_two_open' }, 2, streamOf);
    expect(most).toBeLessThanOrEqual(2);
  });

  it("builds a table's keys as soon as its rows are in, while a later data artifact still loads", async () => {
    const held = backups.big as HeldArtifact[];
    const data = held.filter((artifact) => artifact.meta.part === 'data');
    expect(data.map((artifact) => artifact.meta.tables)).toEqual([
      ['public.big_a'],
      ['public.big_b'],
      ['public.small'],
    ]);
    const gated = data[1] as HeldArtifact;
    let release: (() => void) | undefined;
    const streamOf = (artifact: HeldArtifact) => {
      if (artifact !== gated) return Readable.from([artifact.bytes]);
      // big_b's rows: half of them, the rest only once big_a's primary key exists.
      const stream = new PassThrough();
      const half = artifact.bytes.length >> 1;
      stream.write(artifact.bytes.subarray(0, half));
      release = () => stream.end(artifact.bytes.subarray(half));
      return stream;
    };
    const restoring = restore(held, { db: server.url('postgres'), createDb: 'big_overlap' }, 2, streamOf);
    await waitForRelation(server, 'public.big_a_pkey');
    expect(release).toBeDefined();
    release?.();
    const restored = await restoring;
    expect(restored.details).toMatchObject({ phases: { startedDuringData: expect.any(Number) } });
    expect(
      (restored.details as { phases: { startedDuringData: number } }).phases.startedDuringData,
    ).toBeGreaterThan(0);
    expect(await describeDatabase(server.url('big_overlap'))).toEqual(
      await describeDatabase(server.url('big')),
    );
    expect(await tableChecksums(server.url('big_overlap'))).toEqual(await tableChecksums(server.url('big')));
  });

  it('restores into an empty --db on 3 connections, the same database as the source', async () => {
    await server.admin.createDatabase('app_into_db');
    const restored = await restore(backups.app as HeldArtifact[], { db: server.url('app_into_db') }, 3);
    expect(restored.lines[0]).toMatch(/^restored into /);
    expect(await describeDatabase(server.url('app_into_db'))).toEqual(
      await describeDatabase(server.url('app')),
    );
    expect(await tableChecksums(server.url('app_into_db'))).toEqual(await tableChecksums(server.url('app')));
  });

  it('refuses an --db that is not empty before loading anything', async () => {
    await server.admin.createDatabase('app_busy');
    await server.admin.exec('app_busy', 'CREATE TABLE keep_me (id integer)');
    const failure = await rejection(
      restore(backups.app as HeldArtifact[], { db: server.url('app_busy') }, 2),
    );
    expect(failure.code).toBe('TARGET');
    expect(failure.message).toContain('is not empty: table public.keep_me');
  });

  it('a damaged data artifact cancels the other loads and drops the new database, leaving nothing', async () => {
    const held = backups.big as HeldArtifact[];
    const data = held.filter((artifact) => artifact.meta.part === 'data');
    const [stalled, damaged] = [data[0] as HeldArtifact, data[1] as HeldArtifact];
    const streams: PassThrough[] = [];
    let failed!: () => void;
    const streamOf = (artifact: HeldArtifact) => {
      const stream = new PassThrough();
      streams.push(stream);
      if (artifact === stalled) {
        // Half of it, then nothing until the restore gives up on it.
        stream.write(artifact.bytes.subarray(0, artifact.bytes.length >> 1));
      } else if (artifact === damaged) {
        // As core fails a stream whose hash does not match, once half of it was read.
        stream.write(artifact.bytes.subarray(0, artifact.bytes.length >> 1));
        failed = () => stream.destroy(Object.assign(new Error(`${artifact.name}: stored hash mismatch`)));
      } else stream.end(artifact.bytes);
      return stream;
    };
    const restoring = restore(held, { db: server.url('postgres'), createDb: 'big_damaged' }, 4, streamOf);
    // Fail once both loads hold their COPY on the server.
    await waitFor(
      server,
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'COPY %' AND state = 'active'",
      2,
    );
    failed();
    const failure = await rejection(restoring);
    expect(failure.message).toContain(`${damaged.name}: stored hash mismatch`);
    expect(failure.message).toContain('no database "big_damaged" was created');
    expect(streams.every((stream) => stream.destroyed)).toBe(true);
    expect(await databaseExists(server, 'big_damaged')).toBe(false);
    await withClient(server.url('postgres'), async (client) => {
      const left = await client.query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'nexus\\_restore\\_%'",
      );
      expect(left.rows).toEqual([]);
      const running = await client.query(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY %' AND state = 'active' AND pid <> pg_backend_pid()",
      );
      expect(running.rows).toEqual([]);
    });
  });

  it('an abort while the data loads rejects as aborted and leaves no database and no running COPY', async () => {
    const held = backups.big as HeldArtifact[];
    // The data artifacts stall half way, so the abort finds both loads running.
    const streamOf = (artifact: HeldArtifact) => {
      const stream = new PassThrough();
      if (artifact.meta.part === 'data') stream.write(artifact.bytes.subarray(0, artifact.bytes.length >> 1));
      else stream.end(artifact.bytes);
      return stream;
    };
    const controller = new AbortController();
    const restoring = restore(
      held,
      { db: server.url('postgres'), createDb: 'big_aborted' },
      2,
      streamOf,
      createTestContext({ signal: controller.signal }),
    );
    await waitFor(
      server,
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'COPY %' AND state = 'active'",
      2,
    );
    controller.abort();
    const failure = await rejection(restoring);
    expect(failure.code).toBe('ABORTED');
    expect(await databaseExists(server, 'big_aborted')).toBe(false);
    await withClient(server.url('postgres'), async (client) => {
      const running = await client.query(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY %' AND state = 'active' AND pid <> pg_backend_pid()",
      );
      expect(running.rows).toEqual([]);
    });
  });

  it('a failure of a parallel restore into --db says the database is left partly loaded', async () => {
    await server.admin.createDatabase('big_partly');
    const held = backups.big as HeldArtifact[];
    const last = held.at(-1) as HeldArtifact;
    // post-data fails at its end, after every data artifact committed.
    const broken = [
      ...held.slice(0, -1),
      { ...last, bytes: Buffer.concat([last.bytes, Buffer.from('SELECT 1/0;\n')]) },
    ];
    const failure = await rejection(restore(broken, { db: server.url('big_partly') }, 2));
    expect(failure.message).toMatch(/division by zero.*; the target is partly restored/);
    expect(failure.hint).toContain('--single-transaction');
    const counts = await withClient(server.url('big_partly'), async (client) => {
      const { rows } = await client.query(
        'SELECT (SELECT count(*) FROM big_a)::int AS a, (SELECT count(*) FROM big_b)::int AS b',
      );
      return rows[0];
    });
    expect(counts).toEqual({ a: 70000, b: 60000 });
  });

  it('a row that breaks a constraint fails its data job, names the artifact and table, and drops the new database', async () => {
    await server.admin.createDatabase('checked');
    await server.admin.exec(
      'checked',
      `CREATE TABLE big (id integer);
       INSERT INTO big SELECT g FROM generate_series(1, 200000) AS g;
       CREATE TABLE small (v integer);
       INSERT INTO small VALUES (1), (-1);`,
    );
    const held = await backupArtifacts(server.url('checked'));
    // A check constraint in pre-data that the rows of small break: its COPY fails.
    const pre = held[0] as HeldArtifact;
    const broken = [
      {
        ...pre,
        bytes: Buffer.concat([pre.bytes, Buffer.from('ALTER TABLE public.small ADD CHECK (v > 0);\n')]),
      },
      ...held.slice(1),
    ];
    const failure = await rejection(
      restore(broken, { db: server.url('postgres'), createDb: 'checked_copy' }, 2),
    );
    expect(failure.message).toMatch(
      /data-\d{4}\.sql: the COPY into public\.small failed at line \d+: new row for relation "small" violates check constraint/,
    );
    expect(failure.message).toContain('no database "checked_copy" was created');
    expect(await databaseExists(server, 'checked_copy')).toBe(false);
  });
});

async function rejection(promise: Promise<unknown>): Promise<NexusError> {
  try {
    await promise;
  } catch (error) {
    if (isNexusError(error)) return error;
    throw error;
  }
  throw new Error('expected the restore to fail');
}

async function waitFor(server: PostgresServer, sql: string, count: number): Promise<void> {
  await withClient(server.url('postgres'), async (client) => {
    for (;;) {
      const { rows } = await client.query<{ n: number }>(sql);
      if ((rows[0]?.n ?? 0) >= count) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
}

/** Waits until `relation` is committed in the database a restore builds under its temporary name. */
async function waitForRelation(server: PostgresServer, relation: string): Promise<void> {
  for (;;) {
    const temporary = await withClient(server.url('postgres'), async (client) => {
      const { rows } = await client.query<{ datname: string }>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'nexus\\_restore\\_%'",
      );
      return rows[0]?.datname;
    });
    if (temporary !== undefined) {
      const found = await withClient(server.url(temporary), async (client) => {
        const { rows } = await client.query('SELECT pg_catalog.to_regclass($1) IS NOT NULL AS found', [
          relation,
        ]);
        return rows[0]?.found === true;
      });
      if (found) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
