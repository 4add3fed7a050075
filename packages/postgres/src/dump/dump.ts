import { Readable } from 'node:stream';
import { type Artifact, type Json, NexusError, type RunContext } from '@nexus-backup/core';
import type pg from 'pg';
import { catalogReader } from './catalog/query.js';
import { connect, PROVIDER, redactUrl } from './connection.js';
import { type PlanOptions, planDump } from './plan.js';
import { lockTables, openSnapshot } from './snapshot.js';
import { copyOutStatement, writeDump } from './write.js';

export const ARTIFACT_NAME = 'database.sql';

export interface DumpOptions extends PlanOptions {
  /** postgresql:// URL; may hold a password, so it is never logged or stored. */
  db: string;
}

/**
 * Opens a snapshot, plans the dump inside it, and returns the artifact whose stream writes it. The
 * connection stays in its transaction until the stream ends or is destroyed. Exact row counts are
 * counted from the COPY output (one line per row in text format) into `meta.rows` as the data streams.
 */
export async function startDump(options: DumpOptions, ctx: RunContext): Promise<Artifact> {
  const client = await connect(options.db, 'nexus-backup dump');
  let owned = true;
  try {
    const snapshot = await openSnapshot(client);
    await lockTables(client);
    const warn = (message: string) => ctx.log.warn(message);
    const objects = await planDump(catalogReader(client, snapshot.versionNum, warn), options);
    const dataTables = objects.flatMap((object) =>
      object.kind === 'table-data' && object.relation ? [object.relation] : [],
    );
    const expectedBytes = await estimateBytes(client, dataTables);
    const rows: { [table: string]: Json } = {};
    const meta: { [key: string]: Json } = {
      format: 'plain-sql',
      serverVersion: snapshot.serverVersion,
      serverVersionNum: snapshot.versionNum,
      database: snapshot.database,
      snapshotAt: snapshot.takenAt,
      schemaOnly: Boolean(options.schemaOnly),
      dataOnly: Boolean(options.dataOnly),
      rows,
    };
    const { to: copyTo } = await import('pg-copy-streams');
    async function* copyOut(object: (typeof objects)[number]): AsyncIterable<Buffer> {
      const stream = client.query(copyTo(copyOutStatement(object)));
      let count = 0;
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          // In COPY text format a row's newlines are escaped, so each raw 0x0A ends one row.
          for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) count++;
          yield chunk;
        }
      } catch (error) {
        throw new NexusError('IO', `reading table ${object.name} failed: ${(error as Error).message}`, {
          provider: PROVIDER,
          cause: error,
        });
      }
      rows[object.name] = count;
    }
    async function* bytes(): AsyncGenerator<Buffer> {
      try {
        yield* writeDump(snapshot, objects, {
          copyOut,
          signal: ctx.signal,
          dataOnly: Boolean(options.dataOnly),
        });
        await client.query('COMMIT');
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    const stream = Readable.from(bytes(), { objectMode: false, highWaterMark: 64 * 1024 });
    const onAbort = () => stream.destroy(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    stream.once('close', () => ctx.signal.removeEventListener('abort', onAbort));
    owned = false;
    return { name: ARTIFACT_NAME, stream, expectedBytes, meta };
  } catch (error) {
    if (error instanceof NexusError) throw error;
    throw new NexusError('IO', `dumping ${redactUrl(options.db)} failed: ${(error as Error).message}`, {
      provider: PROVIDER,
      cause: error,
    });
  } finally {
    if (owned) await client.end().catch(() => undefined);
  }
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
