import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, statement, userSchema } from './query.js';

/**
 * User-defined casts, like pg_dump's dumpCast. A range type's cast to its multirange (14+) belongs to
 * the type (an internal dependency) and comes with it.
 */
export async function readCasts(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{ oid: number; name: string; sql: string }>(`
    SELECT c.oid, pg_catalog.format_type(c.castsource, NULL) || ' AS ' || pg_catalog.format_type(c.casttarget, NULL) AS name,
      'CREATE CAST (' || pg_catalog.format_type(c.castsource, NULL) || ' AS ' || pg_catalog.format_type(c.casttarget, NULL) || ') '
        || CASE c.castmethod WHEN 'f' THEN 'WITH FUNCTION ' || c.castfunc::pg_catalog.regprocedure::text
             WHEN 'i' THEN 'WITH INOUT' ELSE 'WITHOUT FUNCTION' END
        || CASE c.castcontext WHEN 'a' THEN ' AS ASSIGNMENT' WHEN 'i' THEN ' AS IMPLICIT' ELSE '' END AS sql
    FROM pg_catalog.pg_cast c
    WHERE c.oid >= 16384 AND ${notFromExtension('pg_cast', 'c.oid')}
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_cast'::pg_catalog.regclass
        AND d.objid = c.oid AND d.deptype = 'i')
    ORDER BY 2`);
  return rows.map((row) =>
    dumpObject({
      key: identity('pg_cast', row.oid),
      kind: 'cast',
      section: 'pre-data',
      name: row.name,
      sql: statement(row.sql),
      identities: [identity('pg_cast', row.oid)],
    }),
  );
}

/** CREATE [DEFAULT] CONVERSION, like pg_dump's dumpConversion. */
export async function readConversions(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{ oid: number; name: string; sql: string }>(`
    SELECT c.oid, n.nspname || '.' || c.conname AS name,
      pg_catalog.format('CREATE %sCONVERSION %I.%I FOR %L TO %L FROM %I.%I',
        CASE WHEN c.condefault THEN 'DEFAULT ' ELSE '' END, n.nspname, c.conname,
        pg_catalog.pg_encoding_to_char(c.conforencoding), pg_catalog.pg_encoding_to_char(c.contoencoding),
        pn.nspname, p.proname) AS sql
    FROM pg_catalog.pg_conversion c JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace
    JOIN pg_catalog.pg_proc p ON p.oid = c.conproc JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
    WHERE ${userSchema('n.nspname')} AND ${notFromExtension('pg_conversion', 'c.oid')}
    ORDER BY 2`);
  return rows.map((row) =>
    dumpObject({
      key: identity('pg_conversion', row.oid),
      kind: 'conversion',
      section: 'pre-data',
      name: row.name,
      sql: statement(row.sql),
      identities: [identity('pg_conversion', row.oid)],
    }),
  );
}
