import { NexusError, toNexusError } from '@nexus-backup/core';
import type pg from 'pg';
import type { RunDestination, RunKind, RunRecord, RunStatus } from './run-record.js';

/** History calls must never hold a backup run (or the scheduler) hostage. */
const CONNECT_TIMEOUT_MS = 10_000;
const QUERY_TIMEOUT_MS = 15_000;

const CREATE_TABLE = `
CREATE TABLE IF NOT EXISTS backup_history (
  id           bigserial PRIMARY KEY,
  pipeline     text        NOT NULL,
  backup_id    text,
  status       text        NOT NULL CHECK (status IN ('success', 'warning', 'failure')),
  started_at   timestamptz NOT NULL,
  finished_at  timestamptz NOT NULL,
  duration_ms  bigint      NOT NULL,
  bytes        bigint,
  destinations jsonb       NOT NULL,
  error        text,
  warnings     jsonb       NOT NULL DEFAULT '[]',
  host         text        NOT NULL,
  tool_version text        NOT NULL,
  kind         text        NOT NULL DEFAULT 'backup'
)`;
// Tables made before drills were recorded get the column when the first drill is recorded.
const ADD_KIND_COLUMN =
  "ALTER TABLE backup_history ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'backup'";
// Reads that work with or without the kind column (a table of an older version, a role that cannot ALTER).
const KIND = "coalesce(pg_catalog.to_jsonb(h.*) ->> 'kind', 'backup')";
const CREATE_INDEX =
  'CREATE INDEX IF NOT EXISTS backup_history_pipeline_started ON backup_history (pipeline, started_at DESC)';

/** A row as `history` prints it. */
export interface HistoryRow {
  kind: RunKind;
  pipeline: string;
  backupId: string | null;
  status: RunStatus;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  bytes: number | null;
  destinations: RunDestination[];
  error: string | null;
  warnings: string[];
  host: string;
}

/** `user@host:port/db` without the password: the URL itself is a secret. */
export function describeDatabase(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.host}${parsed.pathname}`;
  } catch {
    return 'the history database';
  }
}

/** Appends one run; creates the table first when it does not exist yet. */
export async function recordRun(url: string, record: RunRecord): Promise<void> {
  await withClient(url, async (client) => {
    await ensureTable(client);
    // A backup row leaves `kind` to its default, so recording backups never needs the newer column.
    const kind = record.kind ?? 'backup';
    const withKind = kind !== 'backup';
    if (withKind) await ensureKindColumn(client);
    await client.query(
      `INSERT INTO backup_history
         (pipeline, backup_id, status, started_at, finished_at, duration_ms, bytes, destinations, error, warnings, host, tool_version${withKind ? ', kind' : ''})
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12${withKind ? ', $13' : ''})`,
      [
        record.pipeline,
        record.backupId ?? null,
        record.status,
        record.startedAt,
        record.finishedAt,
        record.durationMs,
        record.bytes ?? null,
        JSON.stringify(record.destinations),
        record.error ?? null,
        JSON.stringify(record.warnings),
        record.host,
        record.toolVersion,
        ...(withKind ? [kind] : []),
      ],
    );
  });
}

/** Newest first; an absent table means no run was recorded yet, not an error. */
export async function listRuns(
  url: string,
  options: { pipeline?: string; limit: number },
): Promise<HistoryRow[]> {
  return withClient(url, async (client) => {
    if (!(await tableExists(client))) return [];
    const result = await client.query(
      `SELECT ${KIND} AS kind, pipeline, backup_id, status, started_at, finished_at, duration_ms, bytes, destinations, error, warnings, host
         FROM backup_history h
        WHERE $1::text IS NULL OR pipeline = $1
        ORDER BY started_at DESC, id DESC
        LIMIT $2`,
      [options.pipeline ?? null, options.limit],
    );
    return result.rows.map((row) => ({
      kind: row.kind,
      pipeline: row.pipeline,
      backupId: row.backup_id,
      status: row.status,
      startedAt: (row.started_at as Date).toISOString(),
      finishedAt: (row.finished_at as Date).toISOString(),
      durationMs: Number(row.duration_ms),
      bytes: row.bytes === null ? null : Number(row.bytes),
      destinations: row.destinations,
      error: row.error,
      warnings: row.warnings,
      host: row.host,
    }));
  });
}

/** `listRuns` for a reader: a failure names the database (never its password) and is a CONNECTION error. */
export async function readHistory(
  url: string,
  options: { pipeline?: string; limit: number },
): Promise<HistoryRow[]> {
  try {
    return await listRuns(url, options);
  } catch (error) {
    throw new NexusError(
      'CONNECTION',
      `cannot read the history from ${describeDatabase(url)}: ${toNexusError(error).message}`,
      { cause: error },
    );
  }
}

/** When each pipeline last drilled successfully (finished_at), from every drill ever recorded. */
export async function lastSuccessfulDrills(url: string): Promise<Map<string, Date>> {
  return withClient(url, async (client) => {
    if (!(await tableExists(client))) return new Map();
    const result = await client.query<{ pipeline: string; finished_at: Date }>(
      `SELECT pipeline, max(finished_at) AS finished_at FROM backup_history h
        WHERE ${KIND} = 'drill' AND status = 'success' GROUP BY pipeline`,
    );
    return new Map(result.rows.map((row) => [row.pipeline, row.finished_at]));
  });
}

async function ensureKindColumn(client: pg.Client): Promise<void> {
  const result = await client.query<{ found: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
       WHERE attrelid = 'backup_history'::regclass AND attname = 'kind' AND NOT attisdropped) AS found`,
  );
  if (result.rows[0]?.found === true) return;
  try {
    await client.query(ADD_KIND_COLUMN);
  } catch (error) {
    throw new NexusError(
      'CONNECTION',
      `backup_history has no kind column and it cannot be added (${(error as Error).message})`,
      { cause: error, hint: `run as the table's owner once: ${ADD_KIND_COLUMN}` },
    );
  }
}

/**
 * Creates the table only when it is missing: CREATE ... IF NOT EXISTS still demands CREATE on the
 * schema, and a role that was only granted INSERT must keep working once the table exists.
 */
async function ensureTable(client: pg.Client): Promise<void> {
  if (await tableExists(client)) return;
  try {
    await client.query(CREATE_TABLE);
    await client.query(CREATE_INDEX);
  } catch (error) {
    // Two first runs at once can race inside CREATE ... IF NOT EXISTS (duplicate type or relation).
    const code = (error as { code?: string }).code;
    if (code !== '23505' && code !== '42P07') throw error;
  }
}

async function tableExists(client: pg.Client): Promise<boolean> {
  const result = await client.query<{ found: boolean }>(
    "SELECT to_regclass('backup_history') IS NOT NULL AS found",
  );
  return result.rows[0]?.found === true;
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  // Loaded here, not at the top: `nexus-backup --help` and runs without history never load pg.
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    application_name: 'nexus-backup history',
  });
  // A connection dropped while idle emits 'error'; without a listener it would crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new NexusError('CONNECTION', `cannot connect (${(error as Error).message})`, {
      cause: error,
    });
  }
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
