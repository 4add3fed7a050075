import type pg from 'pg';
import type { DestinationTable } from './destination-catalog.js';

/**
 * Moves each sequence a copied column owns (serial, identity) past the largest value now in its
 * column, so the destination's next insert does not collide with a copied row. Never moves one back.
 */
export async function raiseSequences(
  client: pg.Client,
  tables: DestinationTable[],
): Promise<{ sequence: string; value: string }[]> {
  const moved: { sequence: string; value: string }[] = [];
  for (const table of new Set(tables)) {
    for (const { column, sequence } of table.sequences) {
      const { rows } = await client.query<{ value: string }>(
        `SELECT pg_catalog.setval($1::regclass, m.v)::text AS value
         FROM (SELECT max(${`"${column.replaceAll('"', '""')}"`})::bigint AS v FROM ${table.qname}) AS m,
              ${sequence} AS s, pg_catalog.pg_sequence AS q
         WHERE q.seqrelid = $1::regclass AND q.seqincrement > 0 AND m.v IS NOT NULL
           AND (m.v > s.last_value OR (NOT s.is_called AND m.v >= s.last_value))`,
        [sequence],
      );
      if (rows[0]) moved.push({ sequence, value: rows[0].value });
    }
  }
  return moved;
}
