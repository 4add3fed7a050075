import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, statement } from './query.js';

/**
 * Extensions are created with their default version (like pg_dump). plpgsql comes with every database
 * and is left out. Data in extension configuration tables is not dumped.
 */
export async function readExtensions(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{ oid: number; extname: string; sql: string }>(`
    SELECT x.oid, x.extname,
      pg_catalog.format('CREATE EXTENSION IF NOT EXISTS %I WITH SCHEMA %I', x.extname, n.nspname) AS sql
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
