import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RestoreReport, RunContext } from '@nexus-backup/core';
import { runCopy } from '@nexus-backup/core';
import { postgres } from '@nexus-backup/postgres';
import { to as copyTo } from 'pg-copy-streams';
import { withClient } from './restore-support.js';

const SAMPLE_SERVICE = join(import.meta.dirname, '../../../examples/sample-service');

/**
 * The sample service's database, plus what the service has and the seed leaves out: requests that
 * continue an older request of another conversation (`parent_request_id`, a self-reference). Half the
 * audit rows are a month old.
 */
export async function loadService(url: string, requests: number): Promise<void> {
  const schema = await readFile(join(SAMPLE_SERVICE, 'schema.sql'), 'utf8');
  const seed = await readFile(join(SAMPLE_SERVICE, 'seed.sql'), 'utf8');
  await withClient(url, async (client) => {
    await client.query(schema);
    await client.query(seed);
    await client.query('SELECT seed_sample_service($1, 3)', [requests]);
    await client.query(`
      UPDATE analysis_audit_log SET timestamp = timestamp - interval '30 days' WHERE id % 2 = 0;
      WITH numbered AS (SELECT request_id, row_number() OVER (ORDER BY timestamp) AS n FROM api_requests)
      UPDATE api_requests r SET parent_request_id = p.request_id FROM numbered c, numbered p
       WHERE c.request_id = r.request_id AND c.n % 10 = 0 AND p.n = c.n - 37;`);
  });
}

/**
 * The requests a selection of the service holds, as independent SQL: `seed` (a query of request ids)
 * widened by a recursive query (not the tool's fixpoint) through parent requests and, with `whole`,
 * whole conversations.
 */
export function requestsOf(seed: string, whole: boolean): string {
  const step = whole
    ? 'JOIN api_requests x ON x.conversation_id = a.conversation_id OR x.request_id = a.parent_request_id'
    : 'JOIN api_requests x ON x.request_id = a.parent_request_id';
  return `request_id IN (
    WITH RECURSIVE r(id) AS (
      ${seed}
      UNION
      SELECT x.request_id FROM r JOIN api_requests a ON a.request_id = r.id ${step})
    SELECT id FROM r)`;
}

/** Rows of a table whose `column` points at the selected requests (chunks by request, analyses by conversation). */
export const ofRequests = (requests: string, column = 'request_id', key = 'request_id') =>
  `${column} IN (SELECT ${key} FROM api_requests WHERE ${requests})`;

/** A schema of no particular service: composite keys, a self-reference, a deferrable cycle, cascades, a key-less table, partitions. */
export const GRAPH_SCHEMA = `
CREATE SCHEMA g;
CREATE TABLE g.regions (code text PRIMARY KEY, name text NOT NULL);
CREATE TABLE g.teams (id int PRIMARY KEY, lead int);
CREATE TABLE g.employees (id int PRIMARY KEY, team int REFERENCES g.teams DEFERRABLE INITIALLY DEFERRED, name text);
ALTER TABLE g.teams ADD FOREIGN KEY (lead) REFERENCES g.employees DEFERRABLE INITIALLY DEFERRED;
CREATE TABLE g.customers (id int PRIMARY KEY, region text NOT NULL REFERENCES g.regions, referred_by int REFERENCES g.customers,
  manager int REFERENCES g.employees, profile jsonb);
CREATE TABLE g.orders (shop int, no int, customer_id int NOT NULL REFERENCES g.customers, placed_at timestamptz NOT NULL,
  items jsonb, PRIMARY KEY (shop, no));
CREATE TABLE g.order_lines (shop int, no int, line int, product text, PRIMARY KEY (shop, no, line),
  FOREIGN KEY (shop, no) REFERENCES g.orders ON DELETE CASCADE);
CREATE TABLE g.notes (shop int, no int, body text, FOREIGN KEY (shop, no) REFERENCES g.orders ON DELETE CASCADE);
CREATE TABLE g.events (id int, at timestamptz, customer_id int REFERENCES g.customers ON DELETE CASCADE, kind text,
  PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE g.events_2023 PARTITION OF g.events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE g.events_2024 PARTITION OF g.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE g.settings (k text PRIMARY KEY, v jsonb);
`;

export const GRAPH_DATA = `
BEGIN;
INSERT INTO g.regions SELECT 'r' || i, 'Region ' || i FROM generate_series(1, 5) i;
INSERT INTO g.teams SELECT i, i * 10 FROM generate_series(1, 4) i;
INSERT INTO g.employees SELECT i, 1 + i % 4, 'emp ' || i FROM generate_series(1, 40) i;
INSERT INTO g.customers SELECT i, 'r' || (1 + i % 5), CASE WHEN i > 3 THEN i - 3 END, CASE WHEN i % 7 = 0 THEN i END,
  jsonb_build_object('tags', jsonb_build_array(i, 'x', NULL)) FROM generate_series(1, 30) i;
INSERT INTO g.orders SELECT 1 + i % 3, i, 1 + (i * 7) % 30, timestamptz '2023-06-01' + i * interval '3 days',
  jsonb_build_array(jsonb_build_object('sku', i), i, ARRAY[i]) FROM generate_series(1, 60) i;
INSERT INTO g.order_lines SELECT o.shop, o.no, l, 'p' || l FROM g.orders o, generate_series(1, 3) l;
INSERT INTO g.notes SELECT shop, no, E'note\\t' || no FROM g.orders WHERE no % 2 = 0;
INSERT INTO g.events SELECT i, timestamptz '2023-03-01' + i * interval '5 days', 1 + i % 30, 'e' FROM generate_series(1, 120) i;
INSERT INTO g.settings VALUES ('a', '[1, 2]');
COMMIT;
`;

/** The rows of a table (or those matching `where`) as sorted COPY text lines, columns in name order. */
export async function sortedRows(url: string, table: string, where = 'true'): Promise<string[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ columns: string }>(
      `SELECT string_agg(quote_ident(attname), ', ' ORDER BY attname) AS columns FROM pg_attribute
        WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
      [table],
    );
    const chunks: Buffer[] = [];
    const stream = client.query(
      copyTo(`COPY (SELECT ${rows[0]?.columns} FROM ${table} WHERE ${where}) TO STDOUT`),
    );
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks)
      .toString('utf8')
      .split('\n')
      .filter((line) => line !== '')
      .sort();
  });
}

export async function scalar(url: string, sql: string, params: unknown[] = []): Promise<string> {
  return withClient(url, async (client) =>
    String(Object.values((await client.query(sql, params)).rows[0] ?? {})[0]),
  );
}

/** Validated foreign keys of a database: a copy restored with all its keys has as many as its source. */
export function validForeignKeys(url: string): Promise<string> {
  return scalar(url, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated");
}

export type SelectionOptions = Partial<Parameters<typeof postgres.create>[0]>;

const DEFAULTS = {
  schemaOnly: false,
  dataOnly: false,
  owners: false,
  privileges: false,
  untimedTables: 'whole',
  includeChunks: false,
} as const;

/** `copy postgres` as the CLI runs it: the source's backup streamed into its own restore. */
export async function copyRows(
  options: SelectionOptions & { db: string },
  target: Record<string, unknown>,
  ctx: RunContext,
): Promise<RestoreReport> {
  const source = await postgres.create({ ...DEFAULTS, ...options });
  return runCopy(source, { singleTransaction: true, dryRun: false, ...target }, ctx);
}

export function createSource(options: SelectionOptions & { db: string }) {
  return postgres.create({ ...DEFAULTS, ...options });
}
