import type { Json } from '@nexus-backup/core';
import { connect, describeUrl } from './connection.js';
import { relationMatcher } from './select.js';

export interface DescribeOptions {
  db: string;
  tables?: string[];
  excludeTables?: string[];
}

/**
 * Non-secret facts for the manifest: where (host, port, database, user: never the password), the
 * server version, the database size, the schemas, and each table with its planner row estimate
 * (pg_class.reltuples, cheap on any size). Exact counts, taken inside the dump's snapshot, are in
 * the artifact's `meta.rows` (rows COPY wrote, per table) and `meta.objects` (objects by kind), which
 * is what `nexus-backup drill` compares a restored copy against.
 */
export async function describeDatabase(options: DescribeOptions): Promise<{ [key: string]: Json }> {
  const client = await connect(options.db, 'nexus-backup describe');
  try {
    const [server] = (
      await client.query<{ version: string; num: string; size: string; database: string }>(
        `SELECT pg_catalog.current_setting('server_version') AS version,
           pg_catalog.current_setting('server_version_num') AS num,
           pg_catalog.pg_database_size(pg_catalog.current_database())::text AS size,
           pg_catalog.current_database() AS database`,
      )
    ).rows;
    const schemas = (
      await client.query<{ nspname: string }>(
        `SELECT nspname FROM pg_catalog.pg_namespace
         WHERE nspname <> 'information_schema' AND nspname !~ '^pg_' ORDER BY 1`,
      )
    ).rows.map((row) => row.nspname);
    const tables = (
      await client.query<{ schema: string; name: string; estimate: string }>(
        `SELECT n.nspname AS schema, c.relname AS name,
           -- -1 means never analyzed; report it as unknown rather than as a count.
           CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint::text END AS estimate
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
         ORDER BY 1, 2`,
      )
    ).rows;
    const include = options.tables?.length ? relationMatcher(options.tables) : () => true;
    const exclude = options.excludeTables?.length ? relationMatcher(options.excludeTables) : () => false;
    const asObject = (row: { schema: string; name: string }) => ({ schema: row.schema, relname: row.name });
    const { host, port, database, user } = describeUrl(options.db);
    return {
      host,
      port,
      database: server?.database ?? database,
      user,
      serverVersion: server?.version ?? 'unknown',
      serverVersionNum: Number(server?.num ?? 0),
      databaseBytes: Number(server?.size ?? 0),
      schemas,
      rowCounts:
        'estimate (pg_class.reltuples); exact counts of the dump are in the artifact meta `rows` and `objects`',
      tables: tables
        .filter((row) => include(asObject(row)) && !exclude(asObject(row)))
        .map((row) => ({
          name: `${row.schema}.${row.name}`,
          rowsEstimate: row.estimate === null ? null : Number(row.estimate),
        })),
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}
