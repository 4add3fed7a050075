import { addAbortSignal, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isNexusError, NexusError, type RestoreReport, type RunContext } from '@nexus-backup/core';
import type pg from 'pg';
import { connectTo } from '../../restore/connection.js';
import { redactConnectionUrl } from '../../restore/redact-url.js';
import { readSqlScript } from '../../restore/sql-script-reader.js';
import { parseCopyHeader } from './copy-header.js';
import {
  type DestinationTable,
  destinationKey,
  insertOrder,
  readDestinationCatalog,
} from './destination-catalog.js';
import { mergeReport, type TableOutcome } from './merge-report.js';
import { raiseSequences } from './sequences.js';

export interface MergeIntoOptions {
  /** A plain SQL script (a dump, usually of a selection); only its COPY blocks are used. */
  input: Readable;
  /** The source's restore options: `toDb` and `dryRun` here, the others must be absent. */
  target: Record<string, unknown>;
  ctx: RunContext;
}

/** One COPY block, staged as text in a temp table on the destination. */
interface Staged {
  source: string;
  stage: string;
  columns: string[];
  rows: number;
}

// The dump's COPY text is ISO dates and postgres intervals; read it back the same way.
const SESSION = `SET client_encoding = 'UTF8'; SET DateStyle = ISO; SET IntervalStyle = postgres;
  SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0;
  SELECT pg_catalog.set_config('search_path', '', false);`;

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Merges the rows of a dump into an existing database that already has the schema, in one
 * transaction: every COPY block is staged as text into a temp table, then each table gets
 * `INSERT ... SELECT <shared columns cast to the destination's types> ON CONFLICT (pk) DO NOTHING`,
 * parents before children. Going through text is what makes any type (JSONB arrays, enums, domains)
 * copy as the destination reads it. A dry run does the staging and the checks, then rolls back.
 */
export async function mergeInto({ input, target, ctx }: MergeIntoOptions): Promise<RestoreReport> {
  let url: string;
  try {
    url = checkTarget(target);
  } catch (error) {
    input.destroy();
    throw error;
  }
  const dryRun = target.dryRun === true;
  const started = Date.now();
  addAbortSignal(ctx.signal, input);
  let client: pg.Client;
  try {
    client = await connectTo(url);
  } catch (error) {
    input.destroy();
    throw error;
  }
  const onAbort = () => void client.end().catch(() => {});
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  let inTransaction = false;
  try {
    await client.query(SESSION);
    await client.query('BEGIN');
    inTransaction = true;
    // Deferrable keys (a cycle of them) are checked at commit, when every table has its rows.
    await client.query('SET CONSTRAINTS ALL DEFERRED');
    const catalog = await readDestinationCatalog(client);
    const staged = await stageCopies(client, input, ctx);
    const plans = planTables(staged, catalog.tables, ctx);
    const outcomes: TableOutcome[] = [];
    const ordered = insertOrder([...new Set(plans.map((plan) => plan.table))], catalog);
    for (const table of ordered) {
      for (const plan of plans.filter((candidate) => candidate.table === table)) {
        ctx.signal.throwIfAborted();
        outcomes.push(dryRun ? await inspect(client, plan) : await insert(client, plan));
      }
    }
    const sequences = dryRun
      ? []
      : await raiseSequences(
          client,
          outcomes.filter((outcome) => outcome.copied > 0).map((outcome) => outcome.table),
        );
    await client.query(dryRun ? 'ROLLBACK' : 'COMMIT');
    inTransaction = false;
    return mergeReport({
      url: redactConnectionUrl(url),
      dryRun,
      outcomes,
      sequences,
      durationMs: Date.now() - started,
    });
  } catch (error) {
    input.destroy();
    if (inTransaction) await client.query('ROLLBACK').catch(() => {});
    throw explain(error, ctx, url);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    await client.end().catch(() => {});
  }
}

function checkTarget(target: Record<string, unknown>): string {
  const usage = (message: string, hint: string) =>
    new NexusError('USAGE', message, { provider: 'postgres', hint });
  if (typeof target.toDb !== 'string') {
    throw usage(
      '--dry-run needs --to-db',
      'a dry run checks a copy into an existing database: add --to-db URL',
    );
  }
  if (typeof target.createDb === 'string' || typeof target.toFile === 'string') {
    throw usage(
      `--to-db cannot be combined with ${typeof target.createDb === 'string' ? '--create-db' : '--to-file'}`,
      '--to-db merges rows into an existing database; --create-db and --to-file write a whole new copy',
    );
  }
  return target.toDb;
}

/** Streams every COPY block of the script into its own temp table of text columns. */
async function stageCopies(client: pg.Client, input: Readable, ctx: RunContext): Promise<Staged[]> {
  const { from: copyFrom } = await import('pg-copy-streams');
  const staged: Staged[] = [];
  for await (const event of readSqlScript(input)) {
    if (event.kind !== 'copy') continue;
    const header = parseCopyHeader(event.sql);
    if (!header?.columns) {
      throw new NexusError(
        'INTEGRITY',
        `line ${event.line}: cannot read the COPY header "${event.sql.trim()}"`,
        {
          provider: 'postgres',
          hint: 'merge a dump made by nexus-backup (COPY blocks name their columns)',
        },
      );
    }
    const stage = `pg_temp.nexus_stage_${staged.length + 1}`;
    const columns = header.columns.map((column) => `${quote(column)} text`).join(', ');
    await client.query(`CREATE TEMP TABLE nexus_stage_${staged.length + 1} (${columns}) ON COMMIT DROP`);
    await pipeline(
      event.data,
      client.query(copyFrom(`COPY ${stage} (${header.columns.map(quote).join(', ')}) FROM STDIN`)),
      { signal: ctx.signal },
    );
    staged.push({
      source: destinationKey(header.schema ?? 'public', header.table),
      stage,
      columns: header.columns,
      rows: event.rows,
    });
  }
  return staged;
}

export interface TablePlan {
  table: DestinationTable;
  staged: Staged;
  /** Columns both sides have (generated ones on the destination excluded), as quoted lists. */
  shared: string[];
}

/** Matches staged tables to the destination's: missing tables and unfillable columns are errors. */
function planTables(staged: Staged[], tables: Map<string, DestinationTable>, ctx: RunContext): TablePlan[] {
  const plans: TablePlan[] = [];
  const leftOut: string[] = [];
  for (const block of staged) {
    const table = tables.get(block.source);
    if (!table) {
      if (block.rows === 0) {
        ctx.log.warn(
          `the destination has no table ${block.source}; no rows of it were selected, so nothing is lost`,
        );
        continue;
      }
      throw new NexusError(
        'TARGET',
        `the destination has no table ${block.source} (${block.rows} selected rows need it)`,
        {
          provider: 'postgres',
          hint: 'create the schema on the destination first (e.g. restore a --schema-only backup), or leave the table out with --exclude-tables',
        },
      );
    }
    const shared = block.columns.filter((column) => {
      const found = table.columns.get(column);
      return found !== undefined && !found.generated;
    });
    for (const column of block.columns)
      if (!shared.includes(column)) leftOut.push(`${block.source}.${column}`);
    const missingKey = table.primaryKey.filter((column) => !shared.includes(column));
    const unfillable = [...table.columns]
      .filter(([name, column]) => column.required && !shared.includes(name))
      .map(([name]) => name);
    const problems = [...new Set([...missingKey, ...unfillable])];
    if (problems.length > 0) {
      throw new NexusError(
        'TARGET',
        `the destination's ${block.source} needs ${problems.map((c) => `"${c}"`).join(', ')}, which the source does not have`,
        {
          provider: 'postgres',
          hint: 'give those columns a default on the destination, or bring both schemas to the same version',
        },
      );
    }
    plans.push({ table, staged: block, shared });
  }
  if (leftOut.length > 0) {
    ctx.log.warn(`columns not on the destination (or generated there), not copied: ${leftOut.join(', ')}`);
  }
  return plans;
}

function casts(plan: TablePlan): string[] {
  return plan.shared.map(
    (column) => `s.${quote(column)}::${plan.table.columns.get(column)?.castType ?? 'text'}`,
  );
}

async function insert(client: pg.Client, plan: TablePlan): Promise<TableOutcome> {
  const { table, staged } = plan;
  const columns = plan.shared.map(quote).join(', ');
  const overriding = plan.shared.some((column) => table.columns.get(column)?.identityAlways)
    ? ' OVERRIDING SYSTEM VALUE'
    : '';
  const conflict = table.primaryKey.length > 0 ? `(${table.primaryKey.map(quote).join(', ')}) ` : '';
  const result = await client.query(
    `INSERT INTO ${table.qname} (${columns})${overriding} SELECT ${casts(plan).join(', ')} FROM ${staged.stage} AS s ON CONFLICT ${conflict}DO NOTHING`,
  );
  const copied = result.rowCount ?? 0;
  return { table, selected: staged.rows, copied, present: staged.rows - copied };
}

/** The dry run: every value cast to the destination's type (a bad one fails here), rows already there counted by key. */
async function inspect(client: pg.Client, plan: TablePlan): Promise<TableOutcome> {
  const { table, staged } = plan;
  const all = casts(plan);
  // num_nulls evaluates every argument (at most 100 per call), so every cast runs on every row.
  const checks: string[] = [];
  for (let start = 0; start < all.length; start += 90)
    checks.push(`pg_catalog.num_nulls(${all.slice(start, start + 90).join(', ')})`);
  await client.query(`SELECT sum(${checks.length > 0 ? checks.join(' + ') : '0'}) FROM ${staged.stage} AS s`);
  let present: number | null = null;
  if (table.primaryKey.length > 0) {
    const key = table.primaryKey.map((column) => `d.${quote(column)}`).join(', ');
    const stagedKey = table.primaryKey
      .map((column) => `s.${quote(column)}::${table.columns.get(column)?.castType ?? 'text'}`)
      .join(', ');
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${staged.stage} AS s WHERE EXISTS (SELECT 1 FROM ${table.qname} AS d WHERE (${key}) = (${stagedKey}))`,
    );
    present = Number(rows[0]?.n ?? 0);
  }
  const { rows: samples } = await client.query<{ sample: string }>(
    `SELECT pg_catalog.row_to_json(x)::text AS sample FROM (SELECT ${all.map((cast, i) => `${cast} AS ${quote(plan.shared[i] as string)}`).join(', ')} FROM ${staged.stage} AS s LIMIT 1) AS x`,
  );
  return {
    table,
    selected: staged.rows,
    copied: present === null ? staged.rows : staged.rows - present,
    present,
    ...(samples[0] ? { sample: samples[0].sample } : {}),
  };
}

function explain(error: unknown, ctx: RunContext, url: string): NexusError {
  if (ctx.signal.aborted)
    return new NexusError('ABORTED', 'the copy was aborted; nothing was written', {
      provider: 'postgres',
      cause: error,
    });
  if (isNexusError(error)) {
    if (error.code === 'CONNECTION' || error.code === 'NOT_FOUND' || error.code === 'USAGE') return error;
    return new NexusError(error.code, `${error.message}; nothing was copied (one transaction, rolled back)`, {
      provider: 'postgres',
      cause: error.cause ?? error,
      hint: error.hint,
    });
  }
  const { detail, constraint } = error as { detail?: string; constraint?: string };
  const why = [(error as Error).message, detail].filter(Boolean).join('; ');
  return new NexusError(
    'IO',
    `copy into ${redactConnectionUrl(url)} failed: ${why}; nothing was copied (one transaction, rolled back)`,
    {
      provider: 'postgres',
      cause: error,
      ...(constraint ? { hint: `the destination's constraint ${constraint} refused a row` } : {}),
    },
  );
}
