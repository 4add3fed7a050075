import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, statement, userSchema } from './query.js';

/** `public` exists in every new database, so it is never created, only commented on when changed. */
export async function readSchemas(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{ oid: number; nspname: string; quoted: string }>(`
    SELECT n.oid, n.nspname, pg_catalog.quote_ident(n.nspname) AS quoted
    FROM pg_catalog.pg_namespace n
    WHERE ${userSchema('n.nspname')} AND ${notFromExtension('pg_namespace', 'n.oid')}
    ORDER BY n.nspname`);
  return rows.map((row) =>
    dumpObject({
      key: identity('pg_namespace', row.oid),
      kind: 'schema',
      section: 'pre-data',
      name: row.nspname,
      sql: row.nspname === 'public' ? '' : statement(`CREATE SCHEMA ${row.quoted}`),
      identities: [identity('pg_namespace', row.oid)],
    }),
  );
}
