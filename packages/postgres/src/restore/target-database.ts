import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { currentRunOwner, isRunOwnerDead, NexusError, type RunOwner } from '@nexus-backup/core';
import type { Client } from 'pg';
import type { DatabaseLocale } from '../dump/database-locale.js';
import { connectTo, urlForDatabase } from './connection.js';
import { createDatabaseStatement } from './create-database-sql.js';
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
 * A restore with createDb builds the database under a temporary name, so a kill never leaves an empty
 * or half-filled database under the requested name, nor one that blocks the retry with "already exists".
 * The temporary name says which host and pid made it (in case the run dies before the comment is
 * written); the comment names the requested database and the run, so the next run to that name drops
 * it once its owner is gone.
 */
const TEMP_PREFIX = 'nexus_restore_';
const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 6);

interface TemporaryMark extends RunOwner {
  tool: 'nexus-backup';
  restoreInto: string;
}

/**
 * Creates an empty database (from template0, so nothing of template1 leaks in) under a temporary name
 * on the server of `serverUrl`, marked as a restore into `name`; returns its name and URL. Refuses when
 * `name` exists already, before any work.
 */
export async function createTemporaryDatabase(
  serverUrl: string,
  name: string,
  /** The source database's encoding and locale, from the backup; the server's defaults without. */
  locale?: DatabaseLocale,
): Promise<{ temporary: string; url: string }> {
  validateDatabaseName(name);
  const owner = currentRunOwner();
  // The process start time in the name too: a run killed before its mark was written is still told
  // apart from a later process that got the same pid (pids are reused quickly on a busy host).
  const temporary = `${TEMP_PREFIX}${HOST_TAG}_${process.pid}_${owner.processStart ?? '0'}_${randomBytes(4).toString('hex')}`;
  const mark: TemporaryMark = { tool: 'nexus-backup', restoreInto: name, ...owner };
  const client = await connectTo(serverUrl);
  try {
    await assertNameFree(client, serverUrl, name);
    await client.query(createDatabaseStatement(client, temporary, locale, await serverVersionNum(client)));
    await client.query(
      `COMMENT ON DATABASE ${client.escapeIdentifier(temporary)} IS ${client.escapeLiteral(JSON.stringify(mark))}`,
    );
  } catch (error) {
    throw createError(error, serverUrl, name);
  } finally {
    await client.end().catch(() => {});
  }
  return { temporary, url: urlForDatabase(serverUrl, temporary) };
}

/**
 * Creates an empty database under exactly `name` (a drill's scratch database, dropped by the drill
 * itself); refuses an existing one. Restores use createTemporaryDatabase + renameIntoPlace instead.
 */
export async function createDatabase(
  serverUrl: string,
  name: string,
  /** The source database's encoding and locale, from the backup; the server's defaults without. */
  locale?: DatabaseLocale,
): Promise<string> {
  validateDatabaseName(name);
  const client = await connectTo(serverUrl);
  try {
    await client.query(createDatabaseStatement(client, name, locale, await serverVersionNum(client)));
  } catch (error) {
    throw createError(error, serverUrl, name);
  } finally {
    await client.end().catch(() => {});
  }
  return urlForDatabase(serverUrl, name);
}

async function serverVersionNum(client: Client): Promise<number> {
  const { rows } = await client.query<{ num: string }>(
    "SELECT pg_catalog.current_setting('server_version_num') AS num",
  );
  return Number(rows[0]?.num ?? 0);
}

/**
 * Gives the restored database its requested name: the mark goes first (a kill in between leaves an
 * unmarked temporary database, which the next run still recognises by its name), then one rename.
 * A comment the restore itself wrote (the database comment of --database-settings) replaced the mark
 * and stays.
 */
export async function renameIntoPlace(serverUrl: string, temporary: string, name: string): Promise<void> {
  const client = await connectTo(serverUrl);
  try {
    const { rows } = await client.query<{ comment: string | null }>(
      `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
      [temporary],
    );
    if (parseMark(rows[0]?.comment ?? null)) {
      await client.query(`COMMENT ON DATABASE ${client.escapeIdentifier(temporary)} IS NULL`);
    }
    await client.query(
      `ALTER DATABASE ${client.escapeIdentifier(temporary)} RENAME TO ${client.escapeIdentifier(name)}`,
    );
  } catch (error) {
    throw createError(error, serverUrl, name);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Drops the temporary databases of dead restores: those marked as a restore into `name`, and unmarked
 * ones this host made whose pid is gone. Returns the names dropped.
 */
export async function dropDeadTemporaryDatabases(serverUrl: string, name: string): Promise<string[]> {
  const client = await connectTo(serverUrl);
  const dropped: string[] = [];
  try {
    const { rows } = await client.query<{ datname: string; mark: string | null }>(
      `SELECT datname, shobj_description(oid, 'pg_database') AS mark FROM pg_database
        WHERE starts_with(datname, $1) ORDER BY datname`,
      [TEMP_PREFIX],
    );
    for (const row of rows) {
      if (!isDeadLeftover(row.datname, row.mark, name)) continue;
      await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(row.datname)} WITH (FORCE)`);
      dropped.push(row.datname);
    }
  } finally {
    await client.end().catch(() => {});
  }
  return dropped;
}

function isDeadLeftover(datname: string, markText: string | null, name: string): boolean {
  const mark = parseMark(markText);
  if (mark) return mark.restoreInto === name && isRunOwnerDead(mark);
  const [host, pid, ...rest] = datname.slice(TEMP_PREFIX.length).split('_');
  if (host !== HOST_TAG || !/^\d+$/.test(pid ?? '')) return false;
  // <pid>_<start>_<random> (older names: <pid>_<random>); start 0 means it could not be read.
  const processStart = rest.length === 2 && rest[0] !== '0' ? rest[0] : undefined;
  return isRunOwnerDead({
    host: hostname(),
    pid: Number(pid),
    ...(processStart ? { processStart } : {}),
    startedAt: new Date().toISOString(),
  });
}

function parseMark(text: string | null): TemporaryMark | undefined {
  if (!text) return undefined;
  try {
    const mark = JSON.parse(text) as TemporaryMark;
    return mark.tool === 'nexus-backup' && typeof mark.restoreInto === 'string' ? mark : undefined;
  } catch {
    return undefined;
  }
}

async function assertNameFree(client: Client, serverUrl: string, name: string): Promise<void> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (rowCount) throw alreadyExists(serverUrl, name);
}

function alreadyExists(serverUrl: string, name: string, cause?: unknown): NexusError {
  return new NexusError(
    'TARGET',
    `database "${name}" already exists on ${redactConnectionUrl(serverUrl)}; it was left untouched`,
    { provider: 'postgres', cause, hint: 'choose another name for createDb' },
  );
}

function createError(error: unknown, serverUrl: string, name: string): NexusError {
  if (error instanceof NexusError) return error;
  const code = (error as { code?: string }).code;
  if (code === '42P04') return alreadyExists(serverUrl, name, error);
  // 22023: a locale the server's operating system does not have; 22P05/42809: an encoding it does not fit.
  const localeHint =
    code === '22023' || code === '42809' || code === '22P05'
      ? "the backup's encoding and locale (in its manifest: the pre-data artifact's meta.locale) must exist on the target server: install the locale there, or create the database yourself and restore into it with --db"
      : undefined;
  return new NexusError(
    'TARGET',
    `could not create database "${name}" on ${redactConnectionUrl(serverUrl)}: ${(error as Error).message}`,
    {
      provider: 'postgres',
      cause: error,
      hint: code === '42501' ? 'the user needs the CREATEDB privilege' : localeHint,
    },
  );
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
