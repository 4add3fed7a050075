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

// Requests reached from the seeds through whole conversations and parent links, computed with a
// recursive query instead of the fixpoint the tool runs.
const widenedRequests = (seed: string) => `id IN (
  WITH RECURSIVE r(id) AS (
    ${seed}
    UNION
    SELECT x.id FROM r JOIN api_requests a ON a.id = r.id
      JOIN api_requests x ON x.conversation_id = a.conversation_id OR x.id = a.parent_id)
  SELECT id FROM r)`;

describe('the service-shaped database', () => {
  it('--since with --group selects whole conversations, their parents and cascade children; the copy restores with every key', async () => {
    const { restored, selection } = await backupAndRestore({
      db: service,
      since: '3 hours',
      group: ['api_requests.conversation_id'],
    });
    const cutoff = `'${selection.since}'::timestamptz`;
    const requests = widenedRequests(`
      SELECT id FROM api_requests WHERE created_at >= ${cutoff}
      UNION SELECT request_id FROM stream_chunks WHERE created_at >= ${cutoff}
      UNION SELECT request_id FROM analyses WHERE created_at >= ${cutoff}`);
    const byRequest = `request_id IN (SELECT id FROM api_requests WHERE ${requests})`;
    await expectRows(restored, service, {
      'public.api_requests': requests,
      'public.stream_chunks': byRequest,
      'public.analyses': byRequest,
      'public.audit_log': `at >= ${cutoff}`,
    });
    const selected = Number(
      await sortedRows(service, 'public.api_requests', requests).then((rows) => rows.length),
    );
    expect(selected).toBeGreaterThan(0);
    expect(selected).toBeLessThan(120);
    expect(selection.tables['public.api_requests']).toBe(selected);
    // A parent link crosses conversations: the selection holds a request older than the window.
    expect(
      (await sortedRows(restored, 'public.api_requests', `created_at < ${cutoff} - interval '1 hour'`))
        .length,
    ).toBeGreaterThan(0);
    expect(await validForeignKeys(restored)).toBe(await validForeignKeys(service));
    // Sequences keep the source's values, past every copied id: a new row does not collide.
    await withClient(restored, (client) =>
      client.query(
        `INSERT INTO stream_chunks (request_id, seq, chunk) SELECT id, 99, '[]' FROM api_requests LIMIT 1`,
      ),
    );
  });

  it('--conversation-id selects one conversation and its parents; stream_chunks only with --include-chunks', async () => {
    const conversation = await withClient(service, async (client) => {
      const { rows } = await client.query<{ c: string }>(
        'SELECT conversation_id AS c FROM api_requests WHERE parent_id IS NOT NULL ORDER BY created_at LIMIT 1',
      );
      return rows[0]?.c as string;
    });
    const requests = `id IN (
      WITH RECURSIVE r(id) AS (SELECT id FROM api_requests WHERE conversation_id = '${conversation}'
        UNION SELECT a.parent_id FROM r JOIN api_requests a ON a.id = r.id WHERE a.parent_id IS NOT NULL)
      SELECT id FROM r)`;
    const byRequest = `request_id IN (SELECT id FROM api_requests WHERE ${requests})`;

    const without = await backupAndRestore({ db: service, conversationId: conversation });
    await expectRows(without.restored, service, {
      'public.api_requests': requests,
      'public.analyses': byRequest,
      'public.stream_chunks': 'false',
      'public.audit_log': 'false',
    });
    expect((await sortedRows(without.restored, 'public.api_requests')).length).toBeGreaterThan(4);

    const withChunks = await backupAndRestore({
      db: service,
      conversationId: conversation,
      includeChunks: true,
    });
    await expectRows(withChunks.restored, service, {
      'public.api_requests': requests,
      'public.stream_chunks': byRequest,
    });
    expect((await sortedRows(withChunks.restored, 'public.stream_chunks')).length).toBeGreaterThan(0);
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
      where: 'api_requests: model = $1 AND status = $2',
      param: ['claude-haiku', '500'],
    });
    // The matching requests and, through parent_id, the requests they continue.
    const requests = `id IN (WITH RECURSIVE r(id) AS (
        SELECT id FROM api_requests WHERE model = 'claude-haiku' AND status = 500
        UNION SELECT a.parent_id FROM r JOIN api_requests a ON a.id = r.id WHERE a.parent_id IS NOT NULL)
      SELECT id FROM r)`;
    await expectRows(haiku, service, { 'public.api_requests': requests });
  });

  it('--where is SQL on its table, run read only: a condition that writes fails and the source is unchanged', async () => {
    await withClient(service, (client) =>
      client.query(
        `CREATE FUNCTION purge_audit() RETURNS boolean LANGUAGE sql AS 'DELETE FROM audit_log; SELECT true'`,
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
        where: "api_requests: true; DROP TABLE audit_log; SELECT 1 WHERE 'a' = 'a'",
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
