import { NexusError } from '@nexus-backup/core';
import type { Client } from 'pg';
import { connectTo, urlForDatabase } from './connection.js';
import { redactConnectionUrl } from './redact-url.js';

const DATABASE_NAME = /^[A-Za-z_][A-Za-z0-9_$-]*$/;

/** Names we create ourselves stay plain: letters, digits, `_`, `$`, `-`, at most 63 bytes (NAMEDATALEN). */
export function validateDatabaseName(name: string): void {
  if (!DATABASE_NAME.test(name) || Buffer.byteLength(name) > 63) {
    throw new NexusError('USAGE', `"${name}" is not a database name we create`, {
      provider: 'postgres',
      hint: 'use letters, digits, _ , $ or -, starting with a letter or _, at most 63 characters',
    });
  }
}

/**
 * Creates an empty database (from template0, so nothing of template1 leaks in) on the server of
 * `serverUrl`, and returns its URL. Never replaces an existing database: CREATE DATABASE fails instead.
 */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  validateDatabaseName(name);
  const newUrl = urlForDatabase(serverUrl, name);
  const client = await connectTo(serverUrl);
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)} TEMPLATE template0`);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const where = redactConnectionUrl(serverUrl);
    if (code === '42P04') {
      throw new NexusError('TARGET', `database "${name}" already exists on ${where}; it was left untouched`, {
        provider: 'postgres',
        cause: error,
        hint: 'choose another name for createDb',
      });
    }
    throw new NexusError(
      'TARGET',
      `could not create database "${name}" on ${where}: ${(error as Error).message}`,
      {
        provider: 'postgres',
        cause: error,
        hint: code === '42501' ? 'the user needs the CREATEDB privilege' : undefined,
      },
    );
  } finally {
    await client.end().catch(() => {});
  }
  return newUrl;
}

/** Removes a database we created, disconnecting whoever is still on it. */
export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const client = await connectTo(serverUrl);
  try {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end().catch(() => {});
  }
}

// Objects a fresh database does not have: anything outside the system schemas that no extension owns,
// schemas other than public, and extensions other than plpgsql. Works on PostgreSQL 13-18.
const USER_OBJECTS_SQL = `
WITH user_namespace AS (
  SELECT oid, nspname FROM pg_namespace
   WHERE nspname <> 'information_schema' AND nspname !~ '^pg_'
), extension_member AS (
  SELECT classid, objid FROM pg_depend WHERE deptype = 'e'
), found AS (
  SELECT 'schema' AS kind, quote_ident(nspname) AS name FROM user_namespace
   WHERE nspname <> 'public'
     AND NOT EXISTS (SELECT 1 FROM extension_member e WHERE e.classid = 'pg_namespace'::regclass AND e.objid = user_namespace.oid)
  UNION ALL
  SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                        WHEN 'f' THEN 'foreign table' ELSE 'table' END,
         quote_ident(n.nspname) || '.' || quote_ident(c.relname)
    FROM pg_class c JOIN user_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
     AND NOT EXISTS (SELECT 1 FROM extension_member e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid)
  UNION ALL
  SELECT 'function', quote_ident(n.nspname) || '.' || quote_ident(p.proname)
    FROM pg_proc p JOIN user_namespace n ON n.oid = p.pronamespace
   WHERE NOT EXISTS (SELECT 1 FROM extension_member e WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid)
  UNION ALL
  SELECT 'type', quote_ident(n.nspname) || '.' || quote_ident(t.typname)
    FROM pg_type t JOIN user_namespace n ON n.oid = t.typnamespace
   WHERE (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
     AND NOT EXISTS (SELECT 1 FROM extension_member e WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid)
  UNION ALL
  SELECT 'extension', quote_ident(extname) FROM pg_extension WHERE extname <> 'plpgsql'
)
SELECT kind, name, count(*) OVER () AS total FROM found ORDER BY kind, name LIMIT 10`;

/** Refuses a target database that already holds objects, naming some of them. */
export async function assertEmptyDatabase(client: Client, url: string): Promise<void> {
  const result = await client.query<{ kind: string; name: string; total: string }>(USER_OBJECTS_SQL);
  const first = result.rows[0];
  if (first === undefined) return;
  const total = Number(first.total);
  const named = result.rows.map((row) => `${row.kind} ${row.name}`).join(', ');
  const more = total > result.rows.length ? ` and ${total - result.rows.length} more` : '';
  throw new NexusError(
    'TARGET',
    `the target database ${redactConnectionUrl(url)} is not empty: ${named}${more}`,
    {
      provider: 'postgres',
      hint: 'restore into an empty database, or use createDb to create a new one',
    },
  );
}
