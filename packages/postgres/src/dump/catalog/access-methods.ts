import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, statement } from './query.js';

/** CREATE ACCESS METHOD for user-defined table and index access methods (pg_dump's dumpAccessMethod). */
export async function readAccessMethods(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{ oid: number; amname: string; sql: string }>(`
    SELECT a.oid, a.amname,
      pg_catalog.format('CREATE ACCESS METHOD %I TYPE %s HANDLER %s', a.amname,
        CASE a.amtype WHEN 't' THEN 'TABLE' ELSE 'INDEX' END, a.amhandler::pg_catalog.regproc::text) AS sql
    FROM pg_catalog.pg_am a
    WHERE a.oid >= 16384 AND ${notFromExtension('pg_am', 'a.oid')}
    ORDER BY a.amname`);
  return rows.map((row) =>
    dumpObject({
      key: identity('pg_am', row.oid),
      kind: 'access-method',
      section: 'pre-data',
      name: row.amname,
      sql: statement(row.sql),
      identities: [identity('pg_am', row.oid)],
    }),
  );
}
