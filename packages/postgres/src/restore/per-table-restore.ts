import {
  isNexusError,
  NexusError,
  type RestoreArtifact,
  type RestoreReport,
  type RunContext,
} from '@nexus-backup/core';
import type { Client } from 'pg';
import { type BulkLoad, bulkLoad, bulkLoadSettings } from './bulk-load.js';
import { connectTo, urlForDatabase } from './connection.js';
import { checkJobsRange, intoNewDatabase, report } from './index.js';
import { ParallelData } from './parallel-data.js';
import { redactConnectionUrl } from './redact-url.js';
import { emptyTally, runScript, type ScriptTally } from './run-script.js';
import { readSqlScript } from './sql-script-reader.js';
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
  postDataMs: number;
}

/**
 * Restores a per-table backup like `pg_restore -j`: pre-data on one connection in one transaction,
 * then the data artifacts on `jobs` connections at once (each in its own transaction, tables emptied
 * and loaded with COPY FREEZE), then post-data with its index, key and foreign-key builds on `jobs`
 * connections in dependency order. Not one transaction: into a new database it stays all or nothing
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
  if (target.createDb !== undefined) {
    const { name, value } = await intoNewDatabase(target.db, target.createDb, ctx, preData.stream, (url) =>
      load(url, options, true),
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

async function load(
  url: string,
  options: PerTableRestoreOptions,
  fresh: boolean,
): Promise<{ tally: ScriptTally; phases: Phases }> {
  const { preData, rest, jobs, ctx } = options;
  const tally = emptyTally();
  const phases: Phases = { preDataMs: 0, dataMs: 0, postDataMs: 0 };
  let main: Client;
  try {
    main = await connectTo(url);
  } catch (error) {
    preData.stream.destroy();
    throw error;
  }
  main.on('notice', (notice) => ctx.log.debug(`postgres: ${notice.message}`));
  const onAbort = () => void main.end().catch(() => {});
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  // Terminated, not cancelled: a cancel that reaches a backend just before its statement starts is lost.
  const terminate = async (pids: number[]) => {
    await main.query('SELECT pg_catalog.pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
  };
  const data = new ParallelData(url, jobs, tally, ctx, terminate);
  let post: BulkLoad | undefined;
  let current: RestoreArtifact = preData;
  // The artifact asked for when a load failed arrives later: its stream is then released unread.
  let pending: Promise<IteratorResult<RestoreArtifact>> | undefined;
  try {
    if (!fresh) await assertEmptyDatabase(main, url);
    for (const setting of bulkLoadSettings(jobs)) await main.query(setting);

    let phase = Date.now();
    expectPart(preData, 'pre-data');
    // One transaction: the data connections see every table, or none when pre-data fails.
    await main.query('BEGIN');
    await runScript(main, readSqlScript(preData.stream), ctx, tally, { inTransaction: true });
    await main.query('COMMIT');
    phases.preDataMs = Date.now() - phase;

    phase = Date.now();
    const following = () => {
      pending = rest.next();
      return data.race(pending);
    };
    let next = await following();
    while (!next.done && next.value.meta.part === 'data') {
      current = next.value;
      await data.submit(next.value);
      next = await following();
    }
    await data.finish();
    phases.dataMs = Date.now() - phase;

    phase = Date.now();
    if (next.done) throw missingPostData();
    current = next.value;
    expectPart(current, 'post-data');
    post = bulkLoad(main, url, { jobs, inTransaction: false, ctx });
    await runScript(main, readSqlScript(current.stream), ctx, tally, post.hooks);
    await post.finish();
    // Everything so far committed without waiting for its WAL flush; this commit waits for all of it,
    // so a reported restore survives a server crash.
    await main.query('SET synchronous_commit = on');
    await main.query('BEGIN');
    await main.query('SELECT pg_catalog.pg_current_xact_id()');
    await main.query('COMMIT');
    phases.postDataMs = Date.now() - phase;
    ctx.log.debug(
      `[postgres] restore phases: pre-data ${phases.preDataMs} ms, data ${phases.dataMs} ms on ${jobs} connections, post-data ${phases.postDataMs} ms`,
    );
    return { tally, phases };
  } catch (error) {
    preData.stream.destroy();
    current.stream.destroy();
    pending?.then(
      (late) => late.done || late.value.stream.destroy(),
      () => {},
    );
    throw explain(error, ctx, fresh, url);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    await data.close();
    await post?.close();
    await main.end().catch(() => {});
  }
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
