import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestContext } from '@nexus-backup/testkit';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCopyHeader } from '../src/subset/merge/copy-header.js';
import { backupToFile, loadZoo, psqlFile } from './dump-support.js';
import { withClient } from './restore-support.js';
import {
  copyRows,
  GRAPH_DATA,
  GRAPH_SCHEMA,
  loadService,
  ofRequests,
  requestsOf,
  sortedRows,
} from './subset-support.js';

let server: PostgresServer;
let dir: string;
let service: string;
let counter = 0;

beforeAll(async () => {
  server = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'nexus-subset-merge-'));
  service = await server.admin.createDatabase('service');
  await loadService(service, 80);
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A new database with the source's schema and no rows (a schema-only backup restored with psql). */
async function schemaOnlyCopy(source: string, alter = ''): Promise<string> {
  const file = join(dir, `schema-${++counter}.sql`);
  await backupToFile({ db: source, schemaOnly: true }, file, createTestContext());
  const url = await server.admin.createDatabase(`dest_${counter}`);
  await psqlFile(url, file);
  if (alter !== '') await withClient(url, (client) => client.query(alter));
  return url;
}

async function conversationWithParent(): Promise<string> {
  return withClient(service, async (client) => {
    const { rows } = await client.query<{ c: string }>(
      'SELECT conversation_id AS c FROM api_requests WHERE parent_request_id IS NOT NULL ORDER BY timestamp LIMIT 1',
    );
    return rows[0]?.c as string;
  });
}

describe('copy --to-db into an existing schema', () => {
  it('copies a conversation with its parents and chunks in one transaction; a re-run changes nothing', async () => {
    const dest = await schemaOnlyCopy(service);
    const conversation = await conversationWithParent();
    const lines: string[] = [];
    const report = await copyRows(
      { db: service, conversationId: conversation, includeChunks: true },
      { db: service, toDb: dest },
      createTestContext({ lines }),
    );
    const requests = requestsOf(
      `SELECT request_id FROM api_requests WHERE conversation_id = '${conversation}'`,
      false,
    );
    const conversations = ofRequests(requests, 'conversation_id', 'conversation_id');
    for (const [table, where] of Object.entries({
      'public.api_requests': requests,
      'public.streaming_chunks': ofRequests(requests),
      'public.conversation_analyses': conversations,
      'public.analysis_audit_log': conversations,
    })) {
      expect({ table, rows: await sortedRows(dest, table) }).toEqual({
        table,
        rows: await sortedRows(service, table, where),
      });
    }
    const details = report.details as {
      tables: Record<string, { selected: number; copied: number; present: number }>;
    };
    const requestCount = (await sortedRows(dest, 'public.api_requests')).length;
    expect(details.tables['public.api_requests']).toEqual({
      selected: requestCount,
      copied: requestCount,
      present: 0,
    });
    expect(report.lines[0]).toContain('in one transaction');
    expect(
      report.lines.some((line) => line.includes('sequence public.streaming_chunks_id_seq moved to')),
    ).toBe(true);
    // JSONB arrays inside the bodies arrived as JSONB, not as text.
    expect(
      await withClient(
        dest,
        async (client) =>
          (await client.query(`SELECT jsonb_typeof(body->'metadata'->'ids') AS t FROM api_requests LIMIT 1`))
            .rows[0]?.t,
      ),
    ).toBe('array');
    // The destination's next chunk id comes after the copied ones.
    await withClient(dest, (client) =>
      client.query(
        `INSERT INTO streaming_chunks (request_id, chunk_index, timestamp, data) SELECT request_id, 999, now(), '[1, [2]]' FROM api_requests LIMIT 1`,
      ),
    );

    const before = await tableChecksums(dest);
    const again = await copyRows(
      { db: service, conversationId: conversation, includeChunks: true },
      { db: service, toDb: dest },
      createTestContext(),
    );
    expect(await tableChecksums(dest)).toEqual(before);
    const second = again.details as { copied: number; present: number; selected: number };
    expect(second.copied).toBe(0);
    expect(second.present).toBe(second.selected);
  });

  it('--dry-run reports the same counts with a sample row per table and writes nothing', async () => {
    const dest = await schemaOnlyCopy(service);
    const conversation = await conversationWithParent();
    const before = await tableChecksums(dest);
    const sequences = await withClient(
      dest,
      async (client) => (await client.query('SELECT last_value FROM streaming_chunks_id_seq')).rows,
    );
    const report = await copyRows(
      { db: service, conversationId: conversation, includeChunks: true },
      { db: service, toDb: dest, dryRun: true },
      createTestContext(),
    );
    expect(await tableChecksums(dest)).toEqual(before);
    expect(
      await withClient(
        dest,
        async (client) => (await client.query('SELECT last_value FROM streaming_chunks_id_seq')).rows,
      ),
    ).toEqual(sequences);
    expect(report.lines[0]).toMatch(/^dry run, nothing written to postgresql:\/\/postgres:\*\*\*@/);
    const details = report.details as {
      tables: Record<string, { selected: number; copied: number; sample?: string }>;
    };
    const requests = details.tables['public.api_requests'];
    expect(requests?.selected).toBeGreaterThan(0);
    expect(requests?.copied).toBe(requests?.selected);
    expect(JSON.parse(requests?.sample ?? '{}').conversation_id).toBeDefined();
    // One sample per table with rows: requests, chunks, the conversation's analysis and its audit rows.
    expect(report.lines.filter((line) => line.trim().startsWith('sample: ')).length).toBe(
      Object.values(details.tables).filter((table) => table.selected > 0).length,
    );
    expect(Object.values(details.tables).filter((table) => table.selected > 0).length).toBe(4);
  });

  it('a destination missing a table fails naming it, and is left untouched', async () => {
    const dest = await schemaOnlyCopy(service, 'DROP TABLE conversation_analyses');
    await withClient(dest, (client) =>
      client.query(
        `INSERT INTO analysis_audit_log (event_type, outcome, conversation_id, branch_id, domain, request_id)
         VALUES ('x', 'y', gen_random_uuid(), 'main', 'd', 'r')`,
      ),
    );
    const before = await tableChecksums(dest);
    await expect(
      copyRows(
        { db: service, conversationId: await conversationWithParent() },
        { db: service, toDb: dest },
        createTestContext(),
      ),
    ).rejects.toMatchObject({
      code: 'TARGET',
      message: expect.stringMatching(/no table public\.conversation_analyses.*nothing was copied/),
    });
    expect(await tableChecksums(dest)).toEqual(before);
  });

  it('a column the destination lacks is left out with a warning; one it requires and the source lacks is an error', async () => {
    const narrow = await schemaOnlyCopy(service, 'ALTER TABLE api_requests DROP COLUMN tags');
    const lines: string[] = [];
    const conversation = await conversationWithParent();
    await copyRows(
      { db: service, conversationId: conversation },
      { db: service, toDb: narrow },
      createTestContext({ lines }),
    );
    expect(lines.filter((line) => line.startsWith('warn'))).toEqual([
      'warn columns not on the destination (or generated there), not copied: public.api_requests.tags',
    ]);
    expect((await sortedRows(narrow, 'public.api_requests')).length).toBeGreaterThan(0);

    const wide = await schemaOnlyCopy(
      service,
      'ALTER TABLE conversation_analyses ADD COLUMN reviewer text NOT NULL',
    );
    const before = await tableChecksums(wide);
    await expect(
      copyRows(
        { db: service, conversationId: conversation },
        { db: service, toDb: wide },
        createTestContext(),
      ),
    ).rejects.toMatchObject({
      code: 'TARGET',
      message: expect.stringContaining('public.conversation_analyses needs "reviewer"'),
    });
    expect(await tableChecksums(wide)).toEqual(before);
  });

  it('--dry-run without --to-db, and --to-db with --create-db, are usage errors', async () => {
    await expect(
      copyRows({ db: service, since: '1 day' }, { db: service, dryRun: true }, createTestContext()),
    ).rejects.toMatchObject({ code: 'USAGE', message: '--dry-run needs --to-db' });
    await expect(
      copyRows(
        { db: service, since: '1 day' },
        { db: service, toDb: service, createDb: 'x' },
        createTestContext(),
      ),
    ).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe('copy --to-db on other schemas', () => {
  it('a generic FK graph (composite keys, deferrable cycle, key-less table, partitions) merges and re-merges', async () => {
    const graph = await server.admin.createDatabase('graph');
    await withClient(graph, async (client) => {
      await client.query(GRAPH_SCHEMA);
      await client.query(GRAPH_DATA);
    });
    const dest = await schemaOnlyCopy(graph);
    const selection = { db: graph, where: 'orders: shop = $1 AND no <= $2', param: ['2', '30'] };
    const first = await copyRows(selection, { db: graph, toDb: dest }, createTestContext());
    // The same selection as a plain backup: what the merge wrote equals what a restore of it holds.
    const file = join(dir, 'graph-subset.sql');
    await backupToFile(selection, file, createTestContext());
    const restored = await server.admin.createDatabase('graph_restored');
    await psqlFile(restored, file);
    expect(await tableChecksums(dest)).toEqual(await tableChecksums(restored));
    expect((first.details as { copied: number }).copied).toBeGreaterThan(0);
    await copyRows(selection, { db: graph, toDb: dest }, createTestContext());
    // notes has no primary key: rows are told apart by any unique index, and it has none, so they
    // come again; every table with a key is unchanged.
    const after = await tableChecksums(dest);
    const restoredSums = await tableChecksums(restored);
    for (const table of Object.keys(restoredSums).filter((name) => name !== 'g.notes')) {
      expect({ table, sum: after[table] }).toEqual({ table, sum: restoredSums[table] });
    }
  });

  it('every type of the zoo copies through the text staging as the destination reads it', async () => {
    const zoo = await server.admin.createDatabase('zoo');
    await loadZoo(zoo, server.major);
    // The zoo keeps rows that break a NOT VALID domain check; an existing schema checks them.
    const dest = await schemaOnlyCopy(zoo, 'ALTER DOMAIN app.positive_int DROP CONSTRAINT below_million');
    await copyRows({ db: zoo, where: 'app.zoo: true' }, { db: zoo, toDb: dest }, createTestContext());
    expect(await sortedRows(dest, 'app.zoo')).toEqual(await sortedRows(zoo, 'app.zoo'));
  });
});

describe('COPY headers', () => {
  it('reads quoted and unquoted names as PostgreSQL folds them', () => {
    expect(parseCopyHeader('COPY public.api_requests (id, "Weird ""Name""", Mixed) FROM stdin;')).toEqual({
      schema: 'public',
      table: 'api_requests',
      columns: ['id', 'Weird "Name"', 'mixed'],
    });
    expect(parseCopyHeader('COPY "My Schema"."T" FROM stdin;')).toEqual({
      schema: 'My Schema',
      table: 'T',
      columns: undefined,
    });
    expect(parseCopyHeader('COPY t (a, b) TO stdout;')).toBeUndefined();
  });
});
