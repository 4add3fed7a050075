import { type Artifact, type Json, NexusError, type RunContext } from '@nexus-backup/core';
import type pg from 'pg';
import { catalogReader, type Gap } from './catalog/query.js';
import { connect, PROVIDER, redactUrl } from './connection.js';
import { copyTableOut } from './copy-out.js';
import { localeMeta, readDatabaseLocale } from './database-locale.js';
import { largeObjectOut } from './large-object-out.js';
import type { DumpObject } from './model.js';
import { recordObjectCounts } from './object-counts-meta.js';
import { dataArtifactName, splitDump } from './parts.js';
import { type PlanOptions, planDump } from './plan.js';
import { relationMatcher } from './select.js';
import { lockTables, openSnapshot } from './snapshot.js';
import { StreamSet } from './stream-set.js';
import { DumpConnections, lockForWorker } from './workers.js';
import {
  type DataCallbacks,
  isDataObject,
  type TableOf,
  writeData,
  writePostData,
  writePreData,
} from './write.js';

export const PRE_DATA = 'pre-data.sql';
export const POST_DATA = 'post-data.sql';

export interface DumpOptions extends PlanOptions {
  /** postgresql:// URL; may hold a password, so it is never logged or stored. */
  db: string;
  /** Picks the rows each table's COPY reads (see ../subset); absent: every row. */
  rows?: RowFilter;
  /** Dump what can be dumped and record the rest in `meta.leftOut`, instead of failing. */
  allowIncomplete?: boolean;
  /** Connections reading table data side by side (default 1); a row selection always uses one. */
  jobs?: number;
}

/**
 * A row selection computed inside the snapshot. `prepare` runs while the transaction may still write
 * (temp tables); the dump then makes it read only before `select` runs anything of the user's.
 */
export interface RowFilter {
  prepare(client: pg.Client, tables: DumpObject[]): Promise<void>;
  select(
    client: pg.Client,
    ctx: RunContext,
  ): Promise<{ copyStatement(object: DumpObject): string; meta: { [key: string]: Json } }>;
}

/** The artifacts of one dump, in manifest order, and how to drop them all when the caller stops early. */
export interface Dump {
  artifacts: Artifact[];
  /** Connections that read table data at once (what a caller may store side by side). */
  jobs: number;
  /** Destroys every artifact stream not read to its end; the connections close with the last one. */
  destroy(): void;
}

/**
 * Opens a snapshot, plans the dump inside it, and returns its artifacts (see parts.ts): pre-data, data
 * artifacts, post-data. Nothing is read from the server until a data artifact's stream is read; each
 * takes one of `jobs` connections that share the snapshot. The connections stay in their transactions
 * until every data stream has ended or been destroyed. Exact row counts are counted from the COPY
 * output (one line per row in text format) into each data artifact's `meta.rows` as the data streams.
 */
export async function startDump(options: DumpOptions, ctx: RunContext): Promise<Dump> {
  const client = await connect(options.db, 'nexus-backup dump');
  let connections: DumpConnections | undefined;
  try {
    const snapshot = await openSnapshot(client, { readOnly: options.rows === undefined });
    // Counted first, in the snapshot, before a row selection creates its temp tables.
    const objectCounts = await recordObjectCounts(client, options);
    const locale = await readDatabaseLocale(client, snapshot.versionNum);
    const include = options.tables?.length ? relationMatcher(options.tables) : () => true;
    const exclude = options.excludeTables?.length ? relationMatcher(options.excludeTables) : () => false;
    await lockTables(client, (relation) => include(relation) && !exclude(relation));
    const warn = (message: string) => ctx.log.warn(message);
    const gaps: Gap[] = [];
    const reader = catalogReader(client, snapshot.versionNum, warn, (kind, name) =>
      gaps.push({ kind, name }),
    );
    const objects = await planDump(reader, options);
    const incomplete = checkGaps(gaps, Boolean(options.allowIncomplete));
    const facts = await readTableFacts(client, objects);
    // Extension configuration rows are not the user's tables: a row selection does not apply to them.
    const dataObjects = objects.filter(
      (object) => object.kind === 'table-data' && object.copy && object.copy.where === undefined,
    );
    await options.rows?.prepare(client, dataObjects);
    if (options.rows) await client.query('SET TRANSACTION READ ONLY');
    const selected = await options.rows?.select(client, ctx);
    const parts = splitDump(objects, facts.sizeOf, { keepDataOrder: Boolean(options.dataOnly) });
    // The row selection's temp tables live on this connection only, so a selection reads on it alone.
    const jobs = options.rows ? 1 : Math.max(1, Math.min(options.jobs ?? 1, parts.data.length));
    connections = await DumpConnections.open(client, options.db, snapshot.id, jobs - 1);
    const meta: { [key: string]: Json } = {
      format: 'plain-sql',
      layout: 'per-table',
      part: 'pre-data',
      serverVersion: snapshot.serverVersion,
      serverVersionNum: snapshot.versionNum,
      database: snapshot.database,
      locale: localeMeta(locale),
      snapshot: snapshot.id,
      snapshotAt: snapshot.takenAt,
      schemaOnly: Boolean(options.schemaOnly),
      dataOnly: Boolean(options.dataOnly),
      ...objectCounts,
      ...(incomplete.length > 0 ? { leftOut: incomplete.map((gap) => ({ ...gap })) } : {}),
      ...(selected ? { selection: selected.meta } : {}),
    };
    const partOptions = {
      snapshot,
      dataOnly: Boolean(options.dataOnly),
      tableOf: facts.tableOf,
      signal: ctx.signal,
    };
    const pool = connections;
    const streams = new StreamSet(ctx, () => pool.close());
    const copyStatement = (object: DumpObject) =>
      object.copy?.where === undefined ? selected?.copyStatement(object) : undefined;
    /** Bytes written on a connection of the pool, taken when the stream is first read. */
    const onConnection = (
      write: (callbacks: DataCallbacks) => AsyncIterable<Buffer>,
      rows: { [table: string]: Json },
    ) =>
      async function* bytes(): AsyncGenerator<Buffer> {
        const worker = await pool.acquire(ctx.signal);
        let done = false;
        try {
          yield* write({
            copyOut: (object) => copyOut(pool, worker, object, rows, copyStatement(object)),
            largeObjectOut: (object) => largeObjectOut(worker, object.largeObject as number),
          });
          done = true;
        } finally {
          // A connection left in the middle of a COPY is of no use to the next artifact.
          if (done) pool.release(worker);
        }
      };
    const tablesOf = (objects: DumpObject[]) =>
      objects.flatMap((object) => (object.kind === 'table-data' ? [object.name] : []));
    const dataArtifacts = parts.data.map((part, index): Artifact => {
      const rows: { [table: string]: Json } = {};
      const bytes = onConnection((callbacks) => writeData(part.objects, partOptions, callbacks), rows);
      return {
        name: dataArtifactName(index),
        stream: streams.add(bytes(), { holdsConnection: true }),
        expectedBytes: part.estimatedBytes,
        meta: {
          part: 'data',
          tables: tablesOf(part.objects),
          rows,
          ...(part.largeObjects ? { largeObjects: true } : {}),
        },
      };
    });
    // Usually schema only; the data of a table created after a post-data object stays in it (parts.ts).
    const postRows: { [table: string]: Json } = {};
    const postTables = tablesOf(parts.postData);
    const postData = (callbacks: DataCallbacks) =>
      writePostData(parts.postData, objects, partOptions, callbacks);
    const readsData = parts.postData.some(isDataObject);
    const artifacts: Artifact[] = [
      { name: PRE_DATA, stream: streams.add(writePreData(parts.preData, partOptions)), meta },
      ...dataArtifacts,
      {
        name: POST_DATA,
        stream: readsData
          ? streams.add(onConnection(postData, postRows)(), { holdsConnection: true })
          : streams.add(postData(NO_DATA)),
        meta: { part: 'post-data', ...(readsData ? { tables: postTables, rows: postRows } : {}) },
      },
    ];
    streams.sealed();
    return { artifacts, jobs, destroy: () => streams.destroyAll() };
  } catch (error) {
    if (connections) connections.close();
    else void client.end().catch(() => undefined);
    if (error instanceof NexusError) throw error;
    const denied = (error as { code?: string }).code === '42501';
    throw new NexusError('IO', `dumping ${redactUrl(options.db)} failed: ${(error as Error).message}`, {
      provider: PROVIDER,
      cause: error,
      ...(denied
        ? {
            hint: 'the user needs SELECT on every dumped table and sequence; grant it, or leave them out with --exclude-tables',
          }
        : {}),
    });
  }
}

/** For a post-data artifact without data: nothing of it reads from the server. */
const NO_DATA: DataCallbacks = {
  copyOut: () => {
    throw new Error('post-data without data read table data');
  },
  largeObjectOut: () => {
    throw new Error('post-data without data read a large object');
  },
};

/** One table's COPY on `worker`, its row count recorded under the table's name. */
async function* copyOut(
  pool: DumpConnections,
  worker: pg.Client,
  object: DumpObject,
  rows: { [table: string]: Json },
  statement: string | undefined,
): AsyncGenerator<Buffer> {
  if (!pool.isMain(worker) && object.copy) await lockForWorker(worker, object.copy.table, object.name);
  yield* copyTableOut(
    worker,
    object,
    (count) => {
      rows[object.name] = count;
    },
    statement,
  );
}

/**
 * A dump that leaves something out fails, naming every object, unless the user allowed it: then the
 * list goes into the artifact's meta (`leftOut`, `{ kind, name }` each), which makes the backup a
 * warning (exit 1) and shows in list, verify and restore (see core's left-out.ts).
 */
function checkGaps(gaps: Gap[], allowIncomplete: boolean): Gap[] {
  const lines = gaps.map((gap) => `${gap.kind} ${gap.name}`);
  if (lines.length === 0) return [];
  if (!allowIncomplete) {
    throw new NexusError(
      'IO',
      `the dump cannot write ${lines.length} object${lines.length === 1 ? '' : 's'} of this database: ${lines.join('; ')}`,
      {
        provider: PROVIDER,
        hint: 'drop or change them, or pass --allow-incomplete to back up the rest (exit 1; the manifest lists what is missing)',
      },
    );
  }
  return gaps;
}

/** What the split and the markers need from the catalog: table sizes and sequence owners. */
async function readTableFacts(
  client: pg.Client,
  objects: DumpObject[],
): Promise<{ sizeOf: (object: DumpObject) => number; tableOf: TableOf }> {
  const relations = objects.flatMap((object) =>
    object.kind === 'table-data' && object.relation !== undefined ? [object.relation] : [],
  );
  const { rows: sizes } = await client.query<{ oid: number; bytes: string }>(
    'SELECT oid, pg_catalog.pg_relation_size(oid)::text AS bytes FROM pg_catalog.unnest($1::oid[]) AS oid',
    [relations],
  );
  const bytes = new Map(sizes.map((row) => [Number(row.oid), Number(row.bytes)]));
  // A serial's sequence is owned by its column (deptype 'a'), an identity's by its table ('i').
  const { rows: owners } = await client.query<{ sequence: number; owner: number }>(`
    SELECT d.objid AS sequence, d.refobjid AS owner FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_class c ON c.oid = d.objid AND c.relkind = 'S'
    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
      AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i')`);
  const ownerOf = new Map(owners.map((row) => [Number(row.sequence), Number(row.owner)]));
  const tableNames = new Map(
    objects.flatMap((object) =>
      object.kind === 'table' && object.relation !== undefined ? [[object.relation, object.name]] : [],
    ) as [number, string][],
  );
  return {
    sizeOf: (object) => (object.relation === undefined ? 0 : (bytes.get(object.relation) ?? 0)),
    tableOf: (object) => {
      if (object.relation === undefined) return undefined;
      const owner = ownerOf.get(object.relation);
      return tableNames.get(object.relation) ?? (owner === undefined ? undefined : tableNames.get(owner));
    },
  };
}
