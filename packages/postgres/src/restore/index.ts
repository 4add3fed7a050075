import { addAbortSignal, type Readable } from 'node:stream';
import { isNexusError, type Json, NexusError, type RestoreReport, type RunContext } from '@nexus-backup/core';
import type { Client } from 'pg';
import { type DatabaseLocale, storedDatabaseLocale } from '../dump/database-locale.js';
import { bulkLoad, bulkLoadSettings } from './bulk-load.js';
import { connectTo, urlForDatabase } from './connection.js';
import { redactConnectionUrl } from './redact-url.js';
import { restoreToFile } from './restore-to-file.js';
import { emptyTally, runScript, type ScriptTally } from './run-script.js';
import { readSqlScript } from './sql-script-reader.js';
import {
  assertEmptyDatabase,
  createTemporaryDatabase,
  dropDatabase,
  dropDeadTemporaryDatabases,
  renameIntoPlace,
  validateDatabaseName,
} from './target-database.js';

export { redactConnectionUrl } from './redact-url.js';
export {
  readSqlScript,
  type SqlCopyEvent,
  type SqlMetaCommandEvent,
  type SqlScriptEvent,
  type SqlStatementEvent,
} from './sql-script-reader.js';
export { validateDatabaseName } from './target-database.js';

/** Where a plain SQL script goes: exactly one of an existing database, a new database, or a file. */
export interface RestoreSqlTarget {
  /** An existing, empty database (URL); with `createDb`, any database on the server to create it from. */
  db?: string;
  /** Name of a new database to create on the server of `db`; never replaces an existing one. */
  createDb?: string;
  /** Write the script to this file instead (atomically, mode 0600, never replacing a file); `db` is then ignored. */
  toFile?: string;
  /** With createDb: the source database's encoding and locale (a backup's pre-data meta.locale). */
  locale?: DatabaseLocale;
}

/**
 * What `restore`'s target options (db, createDb, toFile, singleTransaction, jobs) mean to restoreSql,
 * for the callers that hand it a script: the whole backup, or a selection of its tables.
 */
export function sqlRestoreOptions(
  target: Record<string, unknown>,
  /** The backup's first database artifact's meta: a new database takes the locale it recorded. */
  meta: { [key: string]: Json } = {},
): Pick<RestoreSqlOptions, 'target' | 'singleTransaction' | 'jobs'> {
  const locale = storedDatabaseLocale(meta.locale);
  return {
    target: {
      ...(typeof target.db === 'string' ? { db: target.db } : {}),
      ...(typeof target.createDb === 'string' ? { createDb: target.createDb } : {}),
      ...(typeof target.toFile === 'string' ? { toFile: target.toFile } : {}),
      ...(locale ? { locale } : {}),
    },
    singleTransaction: target.singleTransaction !== false,
    ...(typeof target.jobs === 'number' ? { jobs: target.jobs } : {}),
  };
}

export interface RestoreSqlOptions {
  /** A plain SQL script: ours or `pg_dump --format=plain`. */
  input: Readable;
  target: RestoreSqlTarget;
  /** Everything in one transaction, so a failure leaves the target as it was. Default true. */
  singleTransaction?: boolean;
  /** Restore into a database that already has objects (e.g. a data-only dump). Default false. */
  allowNonEmpty?: boolean;
  /**
   * Connections for the post-data builds (indexes, keys, foreign keys) of a createDb restore, like
   * `pg_restore -j`. Default 1. More than 1 needs createDb: the load commits before the builds, which
   * stays all or nothing only because a failed new database is dropped.
   */
  jobs?: number;
  ctx: RunContext;
}

/**
 * Restores a plain SQL script without psql: statements run one by one over `pg`, COPY data streams
 * into `COPY ... FROM STDIN`, and the first error stops the restore, naming the line and statement.
 */
export async function restoreSql(options: RestoreSqlOptions): Promise<RestoreReport> {
  const { input, target, ctx } = options;
  const started = Date.now();
  try {
    checkTarget(target);
    checkJobs(options.jobs ?? 1, target);
  } catch (error) {
    input.destroy();
    throw error;
  }
  addAbortSignal(ctx.signal, input);

  if (target.toFile !== undefined) {
    const written = await restoreToFile(input, target.toFile, ctx);
    return report(`wrote ${written.path} (${written.bytes} bytes)`, written.tally, started, {
      toFile: written.path,
      bytes: written.bytes,
    });
  }
  const db = target.db as string;
  if (target.createDb !== undefined) {
    const result = await intoNewDatabase(
      db,
      target.createDb,
      ctx,
      input,
      (url) => restoreIntoDatabase(url, options, { fresh: true }),
      target.locale,
    );
    return report(`created database "${result.name}" and restored into it`, result.value, started, {
      createDb: result.name,
      db: redactConnectionUrl(urlForDatabase(db, result.name)),
    });
  }
  const tally = await restoreIntoDatabase(db, options, { fresh: false });
  return report(`restored into ${redactConnectionUrl(db)}`, tally, started, { db: redactConnectionUrl(db) });
}

/**
 * Runs `restore` into a new database `createDb` (or a default name) on the server of `serverUrl`: built
 * under a temporary name, renamed into place on success, dropped on failure (the error says so). `input`
 * is destroyed when nothing could start.
 */
export async function intoNewDatabase<T>(
  serverUrl: string,
  createDb: string,
  ctx: RunContext,
  input: { destroy(): void },
  restore: (url: string) => Promise<T>,
  /** The source database's encoding and locale; the server's defaults when the backup has none. */
  locale?: DatabaseLocale,
): Promise<{ name: string; value: T }> {
  const name = createDb || defaultDatabaseName(serverUrl);
  let temporary: string;
  let url: string;
  try {
    validateDatabaseName(name);
    for (const dropped of await dropDeadTemporaryDatabases(serverUrl, name))
      ctx.log.info(`[postgres] dropped ${dropped}, left by a killed restore into "${name}"`);
    ({ temporary, url } = await createTemporaryDatabase(serverUrl, name, locale));
  } catch (error) {
    input.destroy();
    throw error;
  }
  try {
    const value = await restore(url);
    await renameIntoPlace(serverUrl, temporary, name);
    return { name, value };
  } catch (error) {
    throw await dropCreated(serverUrl, temporary, name, toNexus(error));
  }
}

function checkTarget(target: RestoreSqlTarget): void {
  const usage = (message: string) =>
    new NexusError('USAGE', message, {
      provider: 'postgres',
      hint: 'restore into --db URL (an empty database), --create-db NAME with --db URL (a new database on that server), or --to-file PATH (config keys: db, createDb, toFile)',
    });
  if (target.toFile !== undefined) {
    // db alone is ignored here: it often comes from DATABASE_URL rather than from the user's choice.
    if (target.createDb !== undefined) {
      throw usage('--to-file (toFile) cannot be combined with --create-db (createDb)');
    }
    return;
  }
  if (target.db === undefined) {
    throw usage(
      target.createDb === undefined
        ? 'no restore target given'
        : '--create-db (createDb) needs --db (db): a URL of the server to create it on',
    );
  }
}

const MAX_JOBS = 64;

/** --jobs: connections of a restore. */
export function checkJobsRange(jobs: number): void {
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > MAX_JOBS) {
    throw new NexusError('USAGE', `jobs must be a whole number from 1 to ${MAX_JOBS}, got ${jobs}`, {
      provider: 'postgres',
    });
  }
}

function checkJobs(jobs: number, target: RestoreSqlTarget): void {
  checkJobsRange(jobs);
  if (jobs > 1 && target.toFile === undefined && target.createDb === undefined) {
    throw new NexusError(
      'USAGE',
      '--jobs above 1 needs --create-db (createDb): parallel index builds run outside the one transaction that keeps a restore into an existing database all or nothing',
      {
        provider: 'postgres',
        hint: 'restore into a new database with --create-db NAME (it is dropped if anything fails), or leave --jobs at 1',
      },
    );
  }
}

async function restoreIntoDatabase(
  url: string,
  options: RestoreSqlOptions,
  { fresh }: { fresh: boolean },
): Promise<ScriptTally> {
  const { input, ctx } = options;
  const singleTransaction = options.singleTransaction ?? true;
  const tally = emptyTally();
  let client: Client;
  try {
    client = await connectTo(url);
  } catch (error) {
    input.destroy();
    throw error;
  }
  client.on('notice', (notice) => ctx.log.debug(`postgres: ${notice.message}`));
  // An abort ends the connection, which also stops a long statement and rolls its transaction back.
  const onAbort = () => void client.end().catch(() => {});
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  let inTransaction = false;
  // A database of its own gets the bulk-load settings, COPY FREEZE and the parallel post-data.
  const bulk = fresh
    ? bulkLoad(client, url, { jobs: options.jobs ?? 1, inTransaction: singleTransaction, ctx })
    : undefined;
  try {
    if (!fresh && !options.allowNonEmpty) await assertEmptyDatabase(client, url);
    if (bulk) for (const setting of bulkLoadSettings(options.jobs ?? 1)) await client.query(setting);
    if (singleTransaction) {
      await client.query('BEGIN');
      inTransaction = true;
    }
    await runScript(client, readSqlScript(input), ctx, tally, {
      ...bulk?.hooks,
      inTransaction: singleTransaction && !bulk?.committed,
    });
    await bulk?.finish();
    if (singleTransaction && !bulk?.committed) {
      // The last commit waits for its WAL flush: a reported restore survives a server crash.
      if (bulk) await client.query('SET synchronous_commit = on');
      await client.query('COMMIT');
    }
    inTransaction = false;
    return tally;
  } catch (error) {
    input.destroy();
    if (inTransaction && !bulk?.committed) await client.query('ROLLBACK').catch(() => {});
    throw explain(error, ctx, { singleTransaction, fresh, tally, url });
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    await bulk?.close();
    await client.end().catch(() => {});
  }
}

/** Adds to an error what became of the target, since that decides what the user does next. */
function explain(
  error: unknown,
  ctx: RunContext,
  context: { singleTransaction: boolean; fresh: boolean; tally: ScriptTally; url: string },
): NexusError {
  const failure = ctx.signal.aborted
    ? new NexusError('ABORTED', 'the restore was aborted', { provider: 'postgres', cause: error })
    : isNexusError(error)
      ? error
      : new NexusError(
          'IO',
          `restore into ${redactConnectionUrl(context.url)} failed: ${(error as Error).message}`,
          {
            provider: 'postgres',
            cause: error,
          },
        );
  const untouched =
    failure.code === 'TARGET' || failure.code === 'CONNECTION' || failure.code === 'NOT_FOUND';
  if (untouched || context.fresh) return failure;
  const outcome = context.singleTransaction
    ? 'nothing was restored (one transaction, rolled back)'
    : `the target is partly restored (${context.tally.statements} statements ran)`;
  return new NexusError(failure.code, `${failure.message}; ${outcome}`, {
    provider: 'postgres',
    cause: failure.cause ?? error,
    hint: failure.hint,
  });
}

/** Drops the temporary database of a restore that failed, and says so in the error. */
async function dropCreated(
  serverUrl: string,
  temporary: string,
  name: string,
  failure: NexusError,
): Promise<NexusError> {
  let outcome: string;
  try {
    await dropDatabase(serverUrl, temporary);
    outcome = `no database "${name}" was created`;
  } catch (error) {
    outcome = `its temporary database "${temporary}" could not be dropped (${(error as Error).message}); the next restore into "${name}" drops it`;
  }
  return new NexusError(failure.code, `${failure.message}; ${outcome}`, {
    provider: 'postgres',
    cause: failure.cause ?? failure,
    hint: failure.hint,
  });
}

function toNexus(error: unknown): NexusError {
  return isNexusError(error)
    ? error
    : new NexusError('INTERNAL', String(error), { provider: 'postgres', cause: error });
}

export function report(
  what: string,
  tally: ScriptTally,
  started: number,
  target: { [key: string]: string | number },
): RestoreReport {
  const durationMs = Date.now() - started;
  const tables = Object.keys(tally.tables).length;
  return {
    lines: [
      `${what}: ${tally.statements} statements, ${tally.rows} rows in ${tables} tables, ${(durationMs / 1000).toFixed(1)} s`,
    ],
    details: {
      ...target,
      statements: tally.statements,
      ...(tally.parallel ? { parallelStatements: tally.parallel } : {}),
      rows: tally.rows,
      tables: tally.tables,
      durationMs,
    },
  };
}

/**
 * `--create-db` without a name: `<db>_backup_<YYYYMMDD_HHMMSS>` (UTC), the operators' "backup database"
 * naming; createTemporaryDatabase still refuses a name that exists.
 */
export function defaultDatabaseName(serverUrl: string, now: Date = new Date()): string {
  const source = decodeURIComponent(new URL(serverUrl).pathname.replace(/^\//, '')) || 'postgres';
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
  return `${source}_backup_${stamp}`.slice(0, 63);
}
