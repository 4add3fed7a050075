import type { Client } from 'pg';
import type { SqlCopyEvent } from './sql-script-reader.js';

const FROM_STDIN_END = /\bFROM\s+stdin\s*;?\s*$/i;

// A plain table (FREEZE refuses partitioned and foreign ones) that TRUNCATE can empty without
// touching anything else: no foreign key points at it and no trigger fires (both come in post-data).
const TRUNCATABLE_SQL = `
SELECT c.oid::regclass::text AS name
  FROM pg_catalog.pg_class c
 WHERE c.oid = pg_catalog.to_regclass($1) AND c.relkind = 'r'
   AND pg_catalog.has_table_privilege(c.oid, 'TRUNCATE')
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.confrelid = c.oid AND k.contype = 'f')
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid)`;

/**
 * The COPY of a data artifact that runs in its own transaction on a table pre-data created (and
 * committed) moments ago: the table is emptied with `TRUNCATE ONLY` in that transaction first, which
 * lets `COPY ... FREEZE` write its rows frozen (no later vacuum rewrites them) and, with
 * `wal_level = minimal`, skip the WAL, as pg_restore does for the tables it creates. `seen` holds the
 * tables already loaded by this restore: a table met twice is never truncated again.
 */
export async function freshTableCopy(
  client: Client,
  event: SqlCopyEvent,
  seen: Set<string>,
): Promise<string> {
  if (!FROM_STDIN_END.test(event.sql)) return event.sql;
  const { rows } = await client.query<{ name: string }>(TRUNCATABLE_SQL, [event.table]);
  const name = rows[0]?.name;
  if (name === undefined || seen.has(name)) return event.sql;
  seen.add(name);
  await client.query(`TRUNCATE ONLY ${name}`);
  return event.sql.replace(FROM_STDIN_END, 'FROM stdin WITH (FREEZE);');
}
