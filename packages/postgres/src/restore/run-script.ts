import { pipeline } from 'node:stream/promises';
import { isNexusError, NexusError, type RunContext } from '@nexus-backup/core';
import type { Client } from 'pg';
import type {
  SqlCopyEvent,
  SqlMetaCommandEvent,
  SqlScriptEvent,
  SqlStatementEvent,
} from './sql-script-reader.js';
import { summarizeStatement } from './statement-text.js';

/** What a script did, for the restore report. */
export interface ScriptTally {
  statements: number;
  rows: number;
  /** COPY rows per table as the script names it. */
  tables: Record<string, number>;
  /** Statements that ran on the other connections of a parallel post-data (jobs > 1). */
  parallel?: number;
}

export function emptyTally(): ScriptTally {
  return { statements: 0, rows: 0, tables: {} };
}

/** Adds a COPY block's rows to the tally. */
export function countCopy(tally: ScriptTally, event: SqlCopyEvent): void {
  tally.rows += event.rows;
  tally.tables[event.table] = (tally.tables[event.table] ?? 0) + event.rows;
}

/** How a bulk load changes the plain one-by-one run (bulk-load.ts). */
export interface ScriptHooks {
  /** Runs the statement elsewhere (another connection) and returns true, or returns false to run it here. */
  offload?(event: SqlStatementEvent): Promise<boolean>;
  /** Before a statement or COPY runs here: e.g. waits for offloaded work it may depend on. */
  beforeLocal?(event: SqlStatementEvent | SqlCopyEvent): Promise<void>;
  /** The COPY statement to run for a block (e.g. with FREEZE). */
  copySql?(event: SqlCopyEvent): Promise<string>;
}

/**
 * Runs a script's statements one by one on `client`, streaming each COPY block's data into the same
 * connection; stops at the first error with its line and statement.
 */
export async function runScript(
  client: Client,
  events: AsyncIterable<SqlScriptEvent>,
  ctx: RunContext,
  tally: ScriptTally,
  { inTransaction = false, ...hooks }: ScriptHooks & { inTransaction?: boolean } = {},
): Promise<void> {
  const { from: copyFrom } = await import('pg-copy-streams');
  for await (const event of events) {
    ctx.signal.throwIfAborted();
    if (event.kind === 'meta') throw unsupportedMetaCommand(event);
    // pg_dump wraps its large objects in BEGIN; ... COMMIT; (lo_open descriptors live in one
    // transaction). Inside our own single transaction that COMMIT would end it half way, so the
    // script's bare BEGIN and COMMIT are left to the transaction already open.
    if (inTransaction && event.kind === 'statement' && TRANSACTION_CONTROL.test(event.sql)) continue;
    if (event.kind === 'statement') {
      if (/^CREATE\s+DATABASE\b/i.test(event.sql)) throw createsDatabase(event);
      if (await hooks.offload?.(event)) {
        tally.statements++;
        tally.parallel = (tally.parallel ?? 0) + 1;
        continue;
      }
      await hooks.beforeLocal?.(event);
      try {
        await client.query(event.sql);
      } catch (error) {
        throw statementFailed(event, error);
      }
    } else {
      await hooks.beforeLocal?.(event);
      const sql = (await hooks.copySql?.(event)) ?? event.sql;
      try {
        await pipeline(event.data, client.query(copyFrom(sql)), { signal: ctx.signal });
      } catch (error) {
        throw copyFailed(event, error);
      }
      countCopy(tally, event);
    }
    tally.statements++;
  }
}

const TRANSACTION_CONTROL = /^\s*(?:BEGIN|COMMIT)\s*;?\s*$/i;

function unsupportedMetaCommand(event: SqlMetaCommandEvent): NexusError {
  const connect = event.name === 'connect' || event.name === 'c';
  return new NexusError(
    'INTEGRITY',
    `line ${event.line}: the script uses the psql command \\${event.name}, which a restore without psql cannot run`,
    {
      provider: 'postgres',
      hint: connect
        ? 'the dump was made with pg_dump --create or pg_dumpall; dump the one database without --create'
        : 'restore this script with psql, or dump again in plain format without psql commands',
    },
  );
}

function createsDatabase(event: SqlStatementEvent): NexusError {
  return new NexusError(
    'INTEGRITY',
    `line ${event.line}: the script creates its own database: ${summarizeStatement(event.sql, 80)}`,
    {
      provider: 'postgres',
      hint: 'the dump was made with pg_dump --create or pg_dumpall; dump the one database without --create and restore it with createDb',
    },
  );
}

export function statementFailed(event: SqlStatementEvent, error: unknown): NexusError {
  if (isNexusError(error)) return error;
  return new NexusError(
    'IO',
    `the statement at line ${event.line} failed: ${describePgError(error)}; statement: ${summarizeStatement(event.sql)}`,
    { provider: 'postgres', cause: error, hint: serverHint(error) },
  );
}

function copyFailed(event: SqlCopyEvent, error: unknown): NexusError {
  // Errors of the script itself (cut short) or an abort keep their own code.
  if (isNexusError(error)) return error;
  if (error instanceof Error && error.name === 'AbortError') {
    return new NexusError('ABORTED', 'the restore was aborted', { provider: 'postgres', cause: error });
  }
  // The server names the failing row as `COPY t, line N` counted from the first data line.
  const where = (error as { where?: string }).where ?? '';
  const dataLine = /\bline (\d+)/.exec(where)?.[1];
  const line = dataLine === undefined ? event.line : event.dataLine + Number(dataLine) - 1;
  return new NexusError(
    'IO',
    `the COPY into ${event.table} failed at line ${line}: ${describePgError(error)}; statement: ${summarizeStatement(event.sql)}`,
    { provider: 'postgres', cause: error, hint: serverHint(error) },
  );
}

/**
 * The server's own advice on an error, such as "You might need to increase max_locks_per_transaction."
 * when one transaction restores more tables than the lock table holds: what the user has to change.
 */
function serverHint(error: unknown): string | undefined {
  const hint = (error as { hint?: unknown } | undefined)?.hint;
  return typeof hint === 'string' && hint !== '' ? hint : undefined;
}

function describePgError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { detail, where } = error as { detail?: string; where?: string };
  return [error.message, detail, where].filter((part) => part !== undefined && part !== '').join('; ');
}
