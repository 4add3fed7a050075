import {
  isNexusError,
  NexusError,
  type RestoreArtifact,
  type RestoreReport,
  type RunContext,
} from '@nexus-backup/core';
import type { Client } from 'pg';
import { storedDatabaseLocale } from '../dump/database-locale.js';
import { type BulkLoad, bulkLoad, bulkLoadSettings } from './bulk-load.js';
import { connectTo, urlForDatabase } from './connection.js';
import { EarlyPostData } from './early-post-data.js';
import { checkJobsRange, intoNewDatabase, report } from './index.js';
import { JobBudget } from './job-budget.js';
import type { MarkedEvent } from './object-markers.js';
import { ParallelData } from './parallel-data.js';
import { inheritanceTables, planPostData, readPostData } from './post-data-plan.js';
import { redactConnectionUrl } from './redact-url.js';
import { emptyTally, runScript, type ScriptTally } from './run-script.js';
import { notNullColumns } from './split-key-build.js';
import { readSqlScript, type SqlScriptEvent } from './sql-script-reader.js';
import { assertEmptyDatabase } from './target-database.js';

export interface PerTableRestoreOptions {
  /** The backup's `pre-data.sql` artifact (its meta has `layout: "per-table"`). */
  preData: RestoreArtifact;
  /** The artifacts after it, in manifest order: data artifacts, then `post-data.sql`. */
  rest: AsyncIterator<RestoreArtifact>;
  /** A new database (`createDb` on the server of `db`), or `db` alone: an existing, empty database. */
  target: { db: string; createDb?: string };
  /** Connections loading data artifacts side by side, and building indexes and keys after them. */
  jobs: number;
  ctx: RunContext;
}

/** Milliseconds per phase, for the report (and the bench's profile). */
interface Phases {
  preDataMs: number;
  dataMs: number;
  /** From the last data artifact's commit to the end: the early builds still running, then the rest of post-data. */
  postDataMs: number;
  /** Post-data statements (index and key builds, foreign keys) that started before the last data artifact committed. */
  startedDuringData: number;
  /** The most of those statements that ran at once on one table (a table's index and key builds side by side). */
  mostOnOneTable: number;
}

/**
 * Restores a per-table backup like `pg_restore -j`: pre-data on one connection in one transaction,
 * then the data artifacts on `jobs` connections at once (each in its own transaction, tables emptied
 * and loaded with COPY FREEZE), a table's index and key builds (and foreign keys, once both tables are
 * in) starting as soon as its artifact commits, within the same `jobs`; then the rest of post-data in
 * its order, any builds left for it on `jobs` connections in dependency order. Not one transaction: into a new database it stays all or nothing
 * because a failed one is dropped; an existing database is left partly loaded by a failure.
 */
export async function restorePerTable(options: PerTableRestoreOptions): Promise<RestoreReport> {
  const { preData, target, ctx } = options;
  const started = Date.now();
  try {
    checkJobsRange(options.jobs);
  } catch (error) {
    preData.stream.destroy();
    throw error;
  }
  startReading(preData.stream);
  if (target.createDb !== undefined) {
    const { name, value } = await intoNewDatabase(
      target.db,
      target.createDb,
      ctx,
      preData.stream,
      (url) => load(url, options, true),
      storedDatabaseLocale(preData.meta.locale),
    );
    return withPhases(
      report(`created database "${name}" and restored into it`, value.tally, started, {
        createDb: name,
        db: redactConnectionUrl(urlForDatabase(target.db, name)),
        jobs: options.jobs,
      }),
      value.phases,
    );
  }
  const { tally, phases } = await load(target.db, options, false);
  return withPhases(
    report(`restored into ${redactConnectionUrl(target.db)}`, tally, started, {
      db: redactConnectionUrl(target.db),
      jobs: options.jobs,
    }),
    phases,
  );
}

/**
 * Asks for the first bytes of `stream` now, so that opening it (the download, and an encrypted backup's
 * key derivation: scrypt, ~0.4 s, before the first byte decodes) runs while CREATE DATABASE and the
 * connections do instead of after them. Nothing is consumed; a failure stays on the stream and is thrown to its reader.
 */
function startReading(stream: RestoreArtifact['stream']): void {
  stream.on('error', () => {});
  stream.read(0);
}

async function load(
  url: string,
  options: PerTableRestoreOptions,
  fresh: boolean,
): Promise<{ tally: ScriptTally; phases: Phases }> {
  const { preData, rest, jobs, ctx } = options;
  const tally = emptyTally();
  const phases: Phases = { preDataMs: 0, dataMs: 0, postDataMs: 0, startedDuringData: 0, mostOnOneTable: 0 };
  // Every artifact's handle up front: a stream opens on its first read (core's LazyReadable; a live
  // dump's on its own connection), so holding them costs nothing until a connection reads one.
  const artifacts: RestoreArtifact[] = [];
  let main: Client;
  try {
    for (let next = await rest.next(); !next.done; next = await rest.next()) {
      artifacts.push(next.value);
      if (next.value.meta.part !== 'data') break;
    }
    main = await connectTo(url);
  } catch (error) {
    preData.stream.destroy();
    for (const artifact of artifacts) artifact.stream.destroy();
    throw error;
  }
  const dataArtifacts = artifacts.filter((artifact) => artifact.meta.part === 'data');
  const postData = artifacts.at(-1)?.meta.part === 'data' ? undefined : artifacts.at(-1);
  main.on('notice', (notice) => ctx.log.debug(`postgres: ${notice.message}`));
  const onAbort = () => void main.end().catch(() => {});
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  // Terminated, not cancelled: a cancel that reaches a backend just before its statement starts is lost.
  const terminate = async (pids: number[]) => {
    await main.query('SELECT pg_catalog.pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
  };
  const budget = new JobBudget(jobs);
  let early: EarlyPostData | undefined;
  const data = new ParallelData(url, jobs, tally, ctx, terminate, budget, (artifact) =>
    early?.committed(artifact),
  );
  let post: BulkLoad | undefined;
  let reading: Promise<MarkedEvent[]> | undefined;
  try {
    if (postData === undefined) throw missingPostData();
    expectPart(postData, 'post-data');
    if (!fresh) await assertEmptyDatabase(main, url);
    for (const setting of bulkLoadSettings(jobs)) await main.query(setting);
    // post-data.sql read whole and verified while pre-data runs (two streams, within `jobs`), so its
    // builds can start as soon as their tables' rows are in.
    if (overlaps(jobs, postData, dataArtifacts)) {
      reading = readPostData(postData);
      reading.catch(() => {});
    }

    let phase = Date.now();
    expectPart(preData, 'pre-data');
    // One transaction: the data connections see every table, or none when pre-data fails.
    await main.query('BEGIN');
    await runScript(main, readSqlScript(preData.stream), ctx, tally, { inTransaction: true });
    await main.query('COMMIT');
    phases.preDataMs = Date.now() - phase;

    phase = Date.now();
    let tail: AsyncIterable<SqlScriptEvent> = readSqlScript(postData.stream);
    if (reading !== undefined) {
      const plan = planPostData(await reading, await inheritanceTables(main), await notNullColumns(main));
      tail = fromArray(plan.rest);
      ctx.log.debug(
        `[postgres] ${plan.early.length} post-data statements start as soon as their tables' rows are in`,
      );
      early = await EarlyPostData.open(
        url,
        jobs,
        [...bulkLoadSettings(jobs), ...plan.setup],
        plan.early,
        dataArtifacts,
        budget,
        ctx,
        terminate,
        (failure) => data.abortWith(failure),
      );
    }
    for (const artifact of dataArtifacts) {
      await data.free();
      await data.submit(artifact);
    }
    await data.finish();
    phases.dataMs = Date.now() - phase;

    phase = Date.now();
    if (early !== undefined) {
      await early.finish();
      phases.startedDuringData = early.startedDuringData;
      phases.mostOnOneTable = early.mostOnOneTable;
      tally.statements += early.statementCount;
      tally.parallel = (tally.parallel ?? 0) + early.statementCount;
      await early.close();
    }
    post = bulkLoad(main, url, { jobs, inTransaction: false, ctx });
    await runScript(main, tail, ctx, tally, post.hooks);
    await post.finish();
    // Everything so far committed without waiting for its WAL flush; this commit waits for all of it,
    // so a reported restore survives a server crash.
    await main.query('SET synchronous_commit = on');
    await main.query('BEGIN');
    await main.query('SELECT pg_catalog.pg_current_xact_id()');
    await main.query('COMMIT');
    phases.postDataMs = Date.now() - phase;
    ctx.log.debug(
      `[postgres] restore phases: pre-data ${phases.preDataMs} ms, data ${phases.dataMs} ms on ${jobs} connections (${phases.startedDuringData} post-data statements started meanwhile), post-data ${phases.postDataMs} ms`,
    );
    return { tally, phases };
  } catch (error) {
    preData.stream.destroy();
    for (const artifact of artifacts) artifact.stream.destroy();
    throw explain(error, ctx, fresh, url);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    await data.close();
    await early?.close();
    await post?.close();
    await main.end().catch(() => {});
  }
}

/**
 * Whether post-data's builds can start while data loads: with more than one connection, a post-data
 * artifact of schema only (one holding table data keeps today's order), and data artifacts that list
 * their tables.
 */
function overlaps(jobs: number, postData: RestoreArtifact, data: readonly RestoreArtifact[]): boolean {
  if (jobs <= 1 || postData.meta.tables !== undefined) return false;
  return data.every((artifact) => Array.isArray(artifact.meta.tables) || artifact.meta.largeObjects === true);
}

async function* fromArray<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

function expectPart(artifact: RestoreArtifact, part: 'pre-data' | 'post-data'): void {
  if (artifact.meta.part === part) return;
  throw new NexusError(
    'INTEGRITY',
    `the backup's artifact ${artifact.name} came where ${part}.sql belongs (part ${String(artifact.meta.part)})`,
    {
      provider: 'postgres',
      hint: 'restore with --single-transaction, which reads the artifacts as one script',
    },
  );
}

function missingPostData(): NexusError {
  return new NexusError('INTEGRITY', 'the backup ends without its post-data.sql artifact', {
    provider: 'postgres',
    hint: 'restore from a complete backup',
  });
}

/** Adds to an error what became of an existing target database; a new one is dropped by the caller. */
function explain(error: unknown, ctx: RunContext, fresh: boolean, url: string): NexusError {
  const failure = ctx.signal.aborted
    ? new NexusError('ABORTED', 'the restore was aborted', { provider: 'postgres', cause: error })
    : isNexusError(error)
      ? error
      : new NexusError('IO', `restore into ${redactConnectionUrl(url)} failed: ${(error as Error).message}`, {
          provider: 'postgres',
          cause: error,
        });
  const untouched = ['TARGET', 'CONNECTION', 'NOT_FOUND', 'USAGE'].includes(failure.code);
  if (fresh || untouched) return failure;
  return new NexusError(
    failure.code,
    `${failure.message}; the target is partly restored (a parallel restore into --db is not one transaction)`,
    {
      provider: 'postgres',
      cause: failure.cause ?? error,
      hint: 'empty the database (or drop and create it again) before retrying; --single-transaction restores all or nothing on one connection',
    },
  );
}

function withPhases(restored: RestoreReport, phases: Phases): RestoreReport {
  return { ...restored, details: { ...(restored.details as object), phases: { ...phases } } };
}
