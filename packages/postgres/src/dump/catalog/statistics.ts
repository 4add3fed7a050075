import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, statement, userSchema } from './query.js';

/**
 * Extended statistics through pg_get_statisticsobjdef (kinds, columns and, on 14+, expressions),
 * plus a non-default STATISTICS target. After the data, like pg_dump; they go with their table.
 */
export async function readStatistics(reader: CatalogReader): Promise<DumpObject[]> {
  // The target is -1 for "default" up to 16 and NULL from 17.
  const rows = await reader.rows<{
    oid: number;
    stxrelid: number;
    name: string;
    qname: string;
    sql: string;
    target: number | null;
  }>(`
    SELECT s.oid, s.stxrelid, n.nspname || '.' || s.stxname AS name, pg_catalog.format('%I.%I', n.nspname, s.stxname) AS qname,
      pg_catalog.pg_get_statisticsobjdef(s.oid) AS sql, NULLIF(s.stxstattarget::int, -1) AS target
    FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace
    WHERE ${userSchema('n.nspname')} AND ${notFromExtension('pg_statistic_ext', 's.oid')}
    ORDER BY 3`);
  return rows.map((row) =>
    dumpObject({
      key: identity('pg_statistic_ext', row.oid),
      kind: 'statistics',
      section: 'post-data',
      name: row.name,
      sql:
        statement(row.sql) +
        (row.target === null ? '' : statement(`ALTER STATISTICS ${row.qname} SET STATISTICS ${row.target}`)),
      identities: [identity('pg_statistic_ext', row.oid)],
      relation: row.stxrelid,
      after: [identity('pg_class', row.stxrelid)],
    }),
  );
}
