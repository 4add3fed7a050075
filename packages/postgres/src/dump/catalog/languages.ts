import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, statement } from './query.js';

const qualified = (oid: string) =>
  `(SELECT pg_catalog.format('%I.%I', fn.nspname, f.proname) FROM pg_catalog.pg_proc f
     JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace WHERE f.oid = ${oid})`;

/**
 * Procedural languages not created by an extension (plpgsql and the pl* extensions are), like
 * pg_dump's dumpProcLang: `CREATE [TRUSTED] PROCEDURAL LANGUAGE ... HANDLER ... INLINE ... VALIDATOR ...`.
 */
export async function readLanguages(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{ oid: number; lanname: string; sql: string }>(`
    SELECT l.oid, l.lanname,
      pg_catalog.format('CREATE %sPROCEDURAL LANGUAGE %I', CASE WHEN l.lanpltrusted THEN 'TRUSTED ' ELSE '' END, l.lanname)
        || ' HANDLER ' || ${qualified('l.lanplcallfoid')}
        || COALESCE(' INLINE ' || ${qualified('NULLIF(l.laninline, 0)')}, '')
        || COALESCE(' VALIDATOR ' || ${qualified('NULLIF(l.lanvalidator, 0)')}, '') AS sql
    FROM pg_catalog.pg_language l
    WHERE l.lanispl AND l.oid >= 16384 AND ${notFromExtension('pg_language', 'l.oid')}
    ORDER BY l.lanname`);
  return rows.map((row) =>
    dumpObject({
      key: identity('pg_language', row.oid),
      kind: 'language',
      section: 'pre-data',
      name: row.lanname,
      sql: statement(row.sql),
      identities: [identity('pg_language', row.oid)],
    }),
  );
}

/** CREATE TRANSFORM FOR type LANGUAGE lang (FROM SQL ..., TO SQL ...), like pg_dump's dumpTransform. */
export async function readTransforms(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{ oid: number; name: string; sql: string }>(`
    SELECT t.oid, pg_catalog.format_type(t.trftype, NULL) || ' LANGUAGE ' || l.lanname AS name,
      pg_catalog.format('CREATE TRANSFORM FOR %s LANGUAGE %I (', pg_catalog.format_type(t.trftype, NULL), l.lanname)
        || pg_catalog.concat_ws(', ',
             'FROM SQL WITH FUNCTION ' || NULLIF(t.trffromsql, 0)::pg_catalog.regprocedure::text,
             'TO SQL WITH FUNCTION ' || NULLIF(t.trftosql, 0)::pg_catalog.regprocedure::text) || ')' AS sql
    FROM pg_catalog.pg_transform t JOIN pg_catalog.pg_language l ON l.oid = t.trflang
    WHERE t.oid >= 16384 AND ${notFromExtension('pg_transform', 't.oid')}
    ORDER BY 2`);
  return rows.map((row) =>
    dumpObject({
      key: identity('pg_transform', row.oid),
      kind: 'transform',
      section: 'pre-data',
      name: row.name,
      sql: statement(row.sql),
      identities: [identity('pg_transform', row.oid)],
    }),
  );
}
