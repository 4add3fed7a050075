import { NexusError } from '@nexus-backup/core';
import type pg from 'pg';
import { PROVIDER } from './connection.js';
import type { DumpObject } from './model.js';
import { copyOutStatement } from './write.js';

/**
 * One table's rows as the server's COPY text, chunk by chunk, never decoded. Counts rows on the way:
 * in COPY text format a row's own newlines are escaped, so each raw 0x0A ends exactly one row.
 */
export async function* copyTableOut(
  client: pg.Client,
  object: DumpObject,
  onRows: (rows: number) => void,
  /** A row selection's own `COPY (SELECT ...) TO STDOUT`; default every row. */
  statement = copyOutStatement(object),
): AsyncGenerator<Buffer> {
  const { to: copyTo } = await import('pg-copy-streams');
  const stream = client.query(copyTo(statement));
  let rows = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) rows++;
      yield chunk;
    }
  } catch (error) {
    throw new NexusError('IO', `reading the rows of ${object.name} failed: ${(error as Error).message}`, {
      provider: PROVIDER,
      cause: error,
    });
  }
  onRows(rows);
}
