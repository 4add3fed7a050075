import { Readable } from 'node:stream';
import { type Artifact, type Json, NexusError, type RunContext } from '@nexus-backup/core';
import type pg from 'pg';
import { catalogReader, type Gap } from './catalog/query.js';
import { connect, PROVIDER, redactUrl } from './connection.js';
import { copyTableOut } from './copy-out.js';
import { largeObjectOut } from './large-object-out.js';
import type { DumpObject } from './model.js';
import { recordObjectCounts } from './object-counts-meta.js';
import { type PlanOptions, planDump } from './plan.js';
import { relationMatcher } from './select.js';
import { lockTables, openSnapshot } from './snapshot.js';
import { writeDump } from './write.js';

export const ARTIFACT_NAME = 'database.sql';

export interface DumpOptions extends PlanOptions {
  /** postgresql:// URL; may hold a password, so it is never logged or stored. */
  db: string;
  /** Picks the rows each table's COPY reads (see ../subset); absent: every row. */
  rows?: RowFilter;
  /** Dump what can be dumped and record the rest in `meta.leftOut`, instead of failing. */
  allowIncomplete?: boolean;
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

/**
 * Opens a snapshot, plans the dump inside it, and returns the artifact whose stream writes it. The
 * connection stays in its transaction until the stream ends or is destroyed. Exact row counts are
 * counted from the COPY output (one line per row in text format) into `meta.rows` as the data streams.
 */
export async function startDump(options: DumpOptions, ctx: RunContext): Promise<Artifact> {
  const client = await connect(options.db, 'nexus-backup dump');
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    void client.end().catch(() => undefined);
  };
  try {
    const snapshot = await openSnapshot(client, { readOnly: options.rows === undefined });
    // Counted first, in the snapshot, before a row selection creates its temp tables.
    const objectCounts = await recordObjectCounts(client, options);
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
    const dataTables = objects.flatMap((object) =>
      object.kind === 'table-data' && object.relation ? [object.relation] : [],
    );
    // Extension configuration rows are not the user's tables: a row selection does not apply to them.
    const dataObjects = objects.filter(
      (object) => object.kind === 'table-data' && object.copy && object.copy.where === undefined,
    );
    await options.rows?.prepare(client, dataObjects);
    if (options.rows) await client.query('SET TRANSACTION READ ONLY');
    const selected = await options.rows?.select(client, ctx);
    const expectedBytes = await estimateBytes(client, dataTables);
    const rows: { [table: string]: Json } = {};
    const meta: { [key: string]: Json } = {
      format: 'plain-sql',
      serverVersion: snapshot.serverVersion,
      serverVersionNum: snapshot.versionNum,
      database: snapshot.database,
      snapshot: snapshot.id,
      snapshotAt: snapshot.takenAt,
      schemaOnly: Boolean(options.schemaOnly),
      dataOnly: Boolean(options.dataOnly),
      rows,
      ...objectCounts,
      ...(incomplete.length > 0 ? { leftOut: incomplete.map((gap) => ({ ...gap })) } : {}),
      ...(selected ? { selection: selected.meta } : {}),
    };
    async function* bytes(): AsyncGenerator<Buffer> {
      yield* writeDump(snapshot, objects, {
        copyOut: (object) =>
          copyTableOut(
            client,
            object,
            (count) => {
              rows[object.name] = count;
            },
            object.copy?.where === undefined ? selected?.copyStatement(object) : undefined,
          ),
        largeObjectOut: (object) => largeObjectOut(client, object.largeObject as number),
        signal: ctx.signal,
        dataOnly: Boolean(options.dataOnly),
      });
      await client.query('COMMIT');
    }
    const stream = Readable.from(bytes(), { objectMode: false, highWaterMark: 64 * 1024 });
    const onAbort = () => stream.destroy(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    // However the stream ends (read to the end, failed, destroyed, or never read at all and
    // destroyed by the caller), the connection and its transaction go with it.
    stream.once('close', () => {
      ctx.signal.removeEventListener('abort', onAbort);
      end();
    });
    return { name: ARTIFACT_NAME, stream, expectedBytes, meta };
  } catch (error) {
    end();
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

/** On-disk size of the dumped tables: the text dump is usually of the same order; for progress only. */
async function estimateBytes(client: pg.Client, relations: number[]): Promise<number> {
  if (relations.length === 0) return 0;
  const { rows } = await client.query<{ bytes: string | null }>(
    'SELECT sum(pg_catalog.pg_relation_size(oid))::text AS bytes FROM pg_catalog.unnest($1::oid[]) AS oid',
    [relations],
  );
  return Number(rows[0]?.bytes ?? 0);
}
