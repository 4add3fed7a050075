import type pg from 'pg';

/**
 * Settings that make catalog functions and COPY output independent of the server's and the role's
 * configuration: an empty search_path makes every name come back schema-qualified.
 */
export const SESSION_SETTINGS = `
  SELECT pg_catalog.set_config('search_path', '', false);
  SET client_encoding = 'UTF8';
  SET DateStyle = ISO;
  SET IntervalStyle = postgres;
  SET extra_float_digits = 3;
  SET statement_timeout = 0;
  SET lock_timeout = 0;
  SET idle_in_transaction_session_timeout = 0;
  SET row_security = off;`;

export interface Snapshot {
  /** `pg_export_snapshot()`: recorded so the dump names the exact snapshot it was taken from. */
  id: string;
  serverVersion: string;
  versionNum: number;
  database: string;
  takenAt: string;
}

/**
 * Opens the dump's one transaction: repeatable read and read only, so every catalog query and every
 * COPY sees the database as of this instant while writers carry on. `readOnly: false` leaves room to
 * create temp tables first (a row selection); the caller then sets it read only.
 */
export async function openSnapshot(client: pg.Client, { readOnly = true } = {}): Promise<Snapshot> {
  await client.query(SESSION_SETTINGS);
  await client.query(`BEGIN ISOLATION LEVEL REPEATABLE READ${readOnly ? ', READ ONLY' : ''}`);
  const { rows } = await client.query<{
    id: string;
    version: string;
    num: string;
    database: string;
    now: Date;
  }>(
    `SELECT pg_catalog.pg_export_snapshot() AS id, pg_catalog.current_setting('server_version') AS version,
       pg_catalog.current_setting('server_version_num') AS num, pg_catalog.current_database() AS database,
       pg_catalog.now() AS now`,
  );
  const row = rows[0];
  if (!row) throw new Error('the server returned no snapshot');
  return {
    id: row.id,
    serverVersion: row.version,
    versionNum: Number(row.num),
    database: row.database,
    takenAt: row.now.toISOString(),
  };
}

/**
 * ACCESS SHARE locks on the tables the dump reads, for the rest of the transaction, like pg_dump:
 * concurrent DDL (DROP, ALTER) waits instead of changing the catalog under the dump; reads and writes
 * go on. Tables the filters leave out are not locked, so a user may dump what they can read.
 */
export async function lockTables(
  client: pg.Client,
  wanted: (relation: { schema: string; relname: string }) => boolean,
): Promise<void> {
  const { rows } = await client.query<{ schema: string; relname: string; name: string }>(`
    SELECT n.nspname AS schema, c.relname, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
    ORDER BY 1`);
  const names = rows.filter(wanted).map((row) => row.name);
  for (let start = 0; start < names.length; start += 500) {
    await client.query(`LOCK TABLE ${names.slice(start, start + 500).join(', ')} IN ACCESS SHARE MODE`);
  }
}
