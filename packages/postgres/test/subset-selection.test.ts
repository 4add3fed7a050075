import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Json } from '@nexus-backup/core';
import { createTestContext } from '@nexus-backup/testkit';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupToFile, loadZoo, psqlFile } from './dump-support.js';
import { withClient } from './restore-support.js';
import {
  GRAPH_DATA,
  GRAPH_SCHEMA,
  loadService,
  ofRequests,
  requestsOf,
  type SelectionOptions,
  sortedRows,
  validForeignKeys,
} from './subset-support.js';

let server: PostgresServer;
let dir: string;
let service: string;
let graph: string;
let counter = 0;

beforeAll(async () => {
  server = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'nexus-subset-'));
  service = await server.admin.createDatabase('service');
  await loadService(service, 120);
  graph = await server.admin.createDatabase('graph');
  await withClient(graph, async (client) => {
    await client.query(GRAPH_SCHEMA);
    await client.query(GRAPH_DATA);
  });
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Backs up with a selection, restores the file with psql (every key checked as psql adds it) into a new database. */
async function backupAndRestore(options: SelectionOptions & { db: string }) {
  const file = join(dir, `subset-${++counter}.sql`);
  const lines: string[] = [];
  const { meta } = await backupToFile(options, file, createTestContext({ lines }));
  const restored = await server.admin.createDatabase(`restored_${counter}`);
  await psqlFile(restored, file);
  const selection = meta.selection as { since?: string; tables: Record<string, number> };
  return { restored, selection, meta, lines, text: await readFile(file, 'utf8') };
}

/** Every table of the copy holds exactly the source rows the rule names, byte for byte. */
async function expectRows(restored: string, source: string, expected: Record<string, string>) {
  for (const [table, where] of Object.entries(expected)) {
    const want = await sortedRows(source, table, where);
    expect({ table, rows: await sortedRows(restored, table) }).toEqual({ table, rows: want });
  }
}

const conversationWithParent = () =>
  withClient(service, async (client) => {
    const { rows } = await client.query<{ c: string }>(
      `SELECT conversation_id AS c FROM api_requests GROUP BY conversation_id
        HAVING bool_or(parent_request_id IS NOT NULL) ORDER BY count(*) DESC, conversation_id LIMIT 1`,
    );
    return rows[0]?.c as string;
  });

describe('the service-shaped database', () => {
  it('--since with --group and no profile windows each table by its own time column (created_at before timestamp)', async () => {
    const { restored, selection } = await backupAndRestore({
      db: service,
      since: '3 hours',
      group: ['api_requests.conversation_id'],
    });
    const cutoff = `'${selection.since}'::timestamptz`;
    const requests = requestsOf(
      `SELECT request_id FROM api_requests WHERE created_at >= ${cutoff}
       UNION SELECT request_id FROM streaming_chunks WHERE created_at >= ${cutoff}`,
      true,
    );
    await expectRows(restored, service, {
      'public.api_requests': requests,
      'public.streaming_chunks': ofRequests(requests),
      'public.conversation_analyses': `created_at >= ${cutoff}`,
      'public.analysis_audit_log': `timestamp >= ${cutoff}`,
    });
    const selected = (await sortedRows(service, 'public.api_requests', requests)).length;
    expect(selected).toBeGreaterThan(0);
    expect(selected).toBeLessThan(120);
    expect(selection.tables['public.api_requests']).toBe(selected);
    // A parent link crosses conversations: the selection holds a request older than the window.
    expect(
      (await sortedRows(restored, 'public.api_requests', `timestamp < ${cutoff} - interval '1 hour'`)).length,
    ).toBeGreaterThan(0);
    expect(await validForeignKeys(restored)).toBe(await validForeignKeys(service));
    // Sequences keep the source's values, past every copied id: a new row does not collide.
    await withClient(restored, (client) =>
      client.query(
        `INSERT INTO streaming_chunks (request_id, chunk_index, timestamp, data) SELECT request_id, 99, now(), '' FROM api_requests LIMIT 1`,
      ),
    );
  });

  it('--profile claude-nexus --since selects whole conversations by api_requests.timestamp, their chunks, analyses and audit rows', async () => {
    const { restored, selection, meta } = await backupAndRestore({
      db: service,
      profile: 'claude-nexus',
      since: '1 day',
    });
    const cutoff = `'${selection.since}'::timestamptz`;
    const requests = requestsOf(`SELECT request_id FROM api_requests WHERE timestamp >= ${cutoff}`, true);
    const conversations = ofRequests(requests, 'conversation_id', 'conversation_id');
    await expectRows(restored, service, {
      'public.api_requests': requests,
      'public.streaming_chunks': ofRequests(requests),
      'public.conversation_analyses': conversations,
      'public.analysis_audit_log': conversations,
    });
    // The window follows the request time: rows written late (created_at) but requested earlier stay out.
    const byInsertion = requestsOf(`SELECT request_id FROM api_requests WHERE created_at >= ${cutoff}`, true);
    expect(await sortedRows(service, 'public.api_requests', requests)).not.toEqual(
      await sortedRows(service, 'public.api_requests', byInsertion),
    );
    // Whole conversations: some requests are older than the window.
    expect(
      (await sortedRows(restored, 'public.api_requests', `timestamp < ${cutoff}`)).length,
    ).toBeGreaterThan(0);
    expect((await sortedRows(restored, 'public.analysis_audit_log')).length).toBeGreaterThan(0);
    expect((selection as { summary?: string }).summary).toContain('profile claude-nexus; selection recent');
    expect(JSON.stringify(meta)).toContain('selection recent');
  });

  it('--conversation-id without --profile recognises the service: requests, analyses and audit rows; chunks only with --include-chunks', async () => {
    const conversation = await conversationWithParent();
    const requests = requestsOf(
      `SELECT request_id FROM api_requests WHERE conversation_id = '${conversation}'`,
      false,
    );
    const conversations = ofRequests(requests, 'conversation_id', 'conversation_id');

    const without = await backupAndRestore({ db: service, conversationId: conversation });
    await expectRows(without.restored, service, {
      'public.api_requests': requests,
      'public.conversation_analyses': conversations,
      'public.analysis_audit_log': conversations,
      'public.streaming_chunks': 'false',
    });
    // The parent request of another conversation comes along, so the copy restores with its keys.
    expect((await sortedRows(without.restored, 'public.api_requests')).length).toBeGreaterThan(
      (await sortedRows(service, 'public.api_requests', `conversation_id = '${conversation}'`)).length,
    );
    expect(without.selection.tables['public.streaming_chunks']).toBe(0);

    const withChunks = await backupAndRestore({
      db: service,
      conversationId: conversation,
      includeChunks: true,
    });
    await expectRows(withChunks.restored, service, {
      'public.api_requests': requests,
      'public.streaming_chunks': ofRequests(requests),
      'public.conversation_analyses': conversations,
    });
    expect((await sortedRows(withChunks.restored, 'public.streaming_chunks')).length).toBeGreaterThan(0);
  });

  it('--where with --profile keeps the profile time column and links: the window follows api_requests.timestamp', async () => {
    const { restored, selection } = await backupAndRestore({
      db: service,
      profile: 'claude-nexus',
      where: 'api_requests: model = $1',
      param: ['claude-haiku'],
      since: '1 day',
    });
    const cutoff = `'${selection.since}'::timestamptz`;
    const requests = requestsOf(
      `SELECT request_id FROM api_requests WHERE model = 'claude-haiku' AND timestamp >= ${cutoff}`,
      false,
    );
    const conversations = ofRequests(requests, 'conversation_id', 'conversation_id');
    await expectRows(restored, service, {
      'public.api_requests': requests,
      'public.streaming_chunks': ofRequests(requests),
      'public.conversation_analyses': conversations,
      'public.analysis_audit_log': conversations,
    });
    expect((await sortedRows(restored, 'public.api_requests')).length).toBeGreaterThan(0);
  });

  it('chunks are found through their foreign key to api_requests, whatever the table is called', async () => {
    const renamed = await server.admin.createDatabase('renamed_chunks');
    await loadService(renamed, 40);
    await withClient(renamed, (client) => client.query('ALTER TABLE streaming_chunks RENAME TO sse_events'));
    const conversation = await withClient(renamed, async (client) =>
      String((await client.query('SELECT conversation_id AS c FROM api_requests LIMIT 1')).rows[0]?.c),
    );
    const requests = `conversation_id = '${conversation}'`;
    const withChunks = await backupAndRestore({
      db: renamed,
      profile: 'claude-nexus',
      select: 'conversation',
      param: [conversation],
      includeChunks: true,
    });
    await expectRows(withChunks.restored, renamed, { 'public.sse_events': ofRequests(requests) });
    expect((await sortedRows(withChunks.restored, 'public.sse_events')).length).toBeGreaterThan(0);
    const without = await backupAndRestore({
      db: renamed,
      profile: 'claude-nexus',
      select: 'conversation',
      param: [conversation],
    });
    expect(await sortedRows(without.restored, 'public.sse_events')).toEqual([]);
  });

  it('--where binds --param values and never splices them', async () => {
    const hostile = "x' OR true OR model = '";
    const { restored } = await backupAndRestore({
      db: service,
      where: 'api_requests: model = $1',
      param: [hostile],
    });
    expect(await sortedRows(restored, 'public.api_requests')).toEqual([]);
    const { restored: haiku } = await backupAndRestore({
      db: service,
      where: 'api_requests: model = $1 AND response_status = $2',
      param: ['claude-haiku', '500'],
    });
    // The matching requests and, through parent_request_id, the requests they continue.
    const requests = requestsOf(
      `SELECT request_id FROM api_requests WHERE model = 'claude-haiku' AND response_status = 500`,
      false,
    );
    await expectRows(haiku, service, { 'public.api_requests': requests });
  });

  it('--where is SQL on its table, run read only: a condition that writes fails and the source is unchanged', async () => {
    await withClient(service, (client) =>
      client.query(
        `CREATE FUNCTION purge_audit() RETURNS boolean LANGUAGE sql AS 'DELETE FROM analysis_audit_log; SELECT true'`,
      ),
    );
    const before = await tableChecksums(service);
    await expect(
      backupAndRestore({ db: service, where: 'api_requests: purge_audit()' }),
    ).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('read-only transaction'),
    });
    await expect(
      backupAndRestore({
        db: service,
        where: "api_requests: true; DROP TABLE analysis_audit_log; SELECT 1 WHERE 'a' = 'a'",
      }),
    ).rejects.toMatchObject({ code: 'USAGE' });
    expect(await tableChecksums(service)).toEqual(before);
  });

  it('names that do not exist are usage errors naming what does', async () => {
    await expect(
      backupAndRestore({ db: service, since: '1 day', group: ['api_requests.nope'] }),
    ).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('has no column "nope"'),
    });
    await expect(backupAndRestore({ db: service, where: 'requests: true' })).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('no table "requests"'),
    });
    await expect(
      backupAndRestore({ db: service, since: '1 day', sinceColumn: ['api_requests=model'] }),
    ).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining('not a date or timestamp') });
  });
});

describe('a generic schema: composite keys, a self-reference, a cycle, cascades, no primary key, partitions', () => {
  it('--conversation-id on a database without the service tables is a usage error naming what the profile needs', async () => {
    await expect(
      backupAndRestore({ db: graph, conversationId: '123e4567-e89b-12d3-a456-426614174000' }),
    ).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining(
        'not one a built-in profile knows: claude-nexus needs tables api_requests, streaming_chunks',
      ),
    });
  });

  // Orders of shop 1 up to no 20; customers they reference and the customers those were referred by
  // (self-reference); the customers' regions and managers; the employees' teams and those teams'
  // leads (a cycle), again and again; order lines and notes (cascade, notes have no key); the
  // customers' events (cascade into a partitioned table). Nothing of settings.
  const customers = `id IN (WITH RECURSIVE c(id) AS (
      SELECT customer_id FROM g.orders WHERE shop = 1 AND no <= 20
      UNION SELECT x.referred_by FROM c JOIN g.customers x ON x.id = c.id WHERE x.referred_by IS NOT NULL)
    SELECT id FROM c)`;
  const employees = `id IN (WITH RECURSIVE e(id) AS (
      SELECT manager FROM g.customers WHERE ${customers} AND manager IS NOT NULL
      UNION SELECT t.lead FROM e JOIN g.employees x ON x.id = e.id JOIN g.teams t ON t.id = x.team)
    SELECT id FROM e)`;
  const expected = {
    'g.orders': 'shop = 1 AND no <= 20',
    'g.order_lines': '(shop, no) IN (SELECT shop, no FROM g.orders WHERE shop = 1 AND no <= 20)',
    'g.notes': '(shop, no) IN (SELECT shop, no FROM g.orders WHERE shop = 1 AND no <= 20)',
    'g.customers': customers,
    'g.regions': `code IN (SELECT region FROM g.customers WHERE ${customers})`,
    'g.employees': employees,
    'g.teams': `id IN (SELECT team FROM g.employees WHERE ${employees})`,
    'g.events': `customer_id IN (SELECT id FROM g.customers WHERE ${customers})`,
    'g.settings': 'false',
  };

  it('--where on a root table selects exactly the foreign-key closure, and the copy restores with every key', async () => {
    const { restored, selection } = await backupAndRestore({
      db: graph,
      where: 'orders: shop = $1 AND no <= $2',
      param: ['1', '20'],
    });
    await expectRows(restored, graph, expected);
    expect((await sortedRows(restored, 'g.customers')).length).toBeGreaterThan(6);
    expect((await sortedRows(restored, 'g.teams')).length).toBeGreaterThan(0);
    expect((await sortedRows(restored, 'g.events')).length).toBeGreaterThan(0);
    expect(selection.tables['g.orders']).toBe(6);
    expect(await validForeignKeys(restored)).toBe(await validForeignKeys(graph));
  });

  it('--since with --untimed-tables referenced keeps untimed tables to the rows selected rows need', async () => {
    const { restored } = await backupAndRestore({
      db: graph,
      since: '2024-01-01',
      sinceColumn: ['g.orders=placed_at'],
      untimedTables: 'referenced',
    });
    const orders = "placed_at >= '2024-01-01Z'";
    const events = "at >= '2024-01-01Z'";
    const rootCustomers = `SELECT customer_id FROM g.orders WHERE ${orders} UNION SELECT customer_id FROM g.events WHERE ${events}`;
    const customers = `id IN (WITH RECURSIVE c(id) AS (${rootCustomers}
        UNION SELECT x.referred_by FROM c JOIN g.customers x ON x.id = c.id WHERE x.referred_by IS NOT NULL)
      SELECT id FROM c)`;
    await expectRows(restored, graph, {
      'g.orders': orders,
      'g.customers': customers,
      'g.events': `${events} OR customer_id IN (SELECT id FROM g.customers WHERE ${customers})`,
      'g.regions': `code IN (SELECT region FROM g.customers WHERE ${customers})`,
      'g.settings': 'false',
    });
    expect(await validForeignKeys(restored)).toBe(await validForeignKeys(graph));
  });
});

describe('every data type of the zoo', () => {
  let zoo: string;
  beforeAll(async () => {
    zoo = await server.admin.createDatabase('zoo');
    await loadZoo(zoo, server.major);
  });

  it('selected rows of every type restore byte for byte', async () => {
    const { restored, meta } = await backupAndRestore({ db: zoo, where: 'app.zoo: true' });
    expect((await tableChecksums(restored))['app.zoo']).toEqual((await tableChecksums(zoo))['app.zoo']);
    expect((meta.selection as { [key: string]: Json }).summary).toContain('where app.zoo: true');
  });

  it('--since leaves out rows whose time is outside the window or NULL', async () => {
    const { restored } = await backupAndRestore({
      db: zoo,
      since: '1900-01-01',
      untimedTables: 'referenced',
    });
    expect(await sortedRows(restored, 'app.zoo')).toEqual(
      await sortedRows(zoo, 'app.zoo', "ts >= '1900-01-01Z'"),
    );
    expect((await sortedRows(zoo, 'app.zoo', 'ts IS NULL')).length).toBeGreaterThan(0);
  });
});
