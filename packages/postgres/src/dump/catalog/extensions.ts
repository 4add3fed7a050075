import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, statement } from './query.js';

/**
 * Extensions are created at the version installed in the dumped database, so their objects match
 * what the dump's other objects were written against. plpgsql comes with every database and is left
 * out. The rows users added to extension configuration tables are dumped apart (extension-data.ts).
 */
export async function readExtensions(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{ oid: number; extname: string; sql: string }>(`
    SELECT x.oid, x.extname,
      pg_catalog.format('CREATE EXTENSION IF NOT EXISTS %I WITH SCHEMA %I VERSION %L', x.extname, n.nspname, x.extversion) AS sql
    FROM pg_catalog.pg_extension x JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace
    WHERE x.extname <> 'plpgsql'
    ORDER BY x.extname`);
  return rows.map((row) =>
    dumpObject({
      key: identity('pg_extension', row.oid),
      kind: 'extension',
      section: 'pre-data',
      name: row.extname,
      sql: statement(row.sql),
      identities: [identity('pg_extension', row.oid)],
    }),
  );
}
