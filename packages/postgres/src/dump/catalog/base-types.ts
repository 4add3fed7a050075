import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, statement, userSchema } from './query.js';

/**
 * Base types like pg_dump's dumpBaseType: a shell type first, so the I/O functions can name the type,
 * then CREATE TYPE with every property. The functions wait for the shell, the type for the functions.
 */
export async function readBaseTypes(reader: CatalogReader): Promise<DumpObject[]> {
  const subscript = reader.version >= 140000 ? 't.typsubscript' : '0::pg_catalog.regproc';
  const rows = await reader.rows<{
    oid: number;
    namespace: number;
    name: string;
    qname: string;
    options: string;
    functions: number[];
  }>(`
    SELECT t.oid, t.typnamespace AS namespace, n.nspname || '.' || t.typname AS name,
      pg_catalog.format('%I.%I', n.nspname, t.typname) AS qname,
      ARRAY(SELECT f FROM pg_catalog.unnest(ARRAY[t.typinput, t.typoutput, t.typreceive, t.typsend, t.typmodin,
        t.typmodout, t.typanalyze, ${subscript}]::pg_catalog.oid[]) f WHERE f <> 0) AS functions,
      pg_catalog.concat_ws(E',\\n    ',
        'INTERNALLENGTH = ' || CASE WHEN t.typlen < 0 THEN 'variable' ELSE t.typlen::text END,
        'INPUT = ' || t.typinput::pg_catalog.regproc::text,
        'OUTPUT = ' || t.typoutput::pg_catalog.regproc::text,
        'RECEIVE = ' || NULLIF(t.typreceive, 0)::pg_catalog.regproc::text,
        'SEND = ' || NULLIF(t.typsend, 0)::pg_catalog.regproc::text,
        'TYPMOD_IN = ' || NULLIF(t.typmodin, 0)::pg_catalog.regproc::text,
        'TYPMOD_OUT = ' || NULLIF(t.typmodout, 0)::pg_catalog.regproc::text,
        'ANALYZE = ' || NULLIF(t.typanalyze, 0)::pg_catalog.regproc::text,
        'SUBSCRIPT = ' || NULLIF(${subscript}, 0)::pg_catalog.regproc::text,
        'DEFAULT = ' || pg_catalog.quote_literal(t.typdefault),
        'ELEMENT = ' || pg_catalog.format_type(NULLIF(t.typelem, 0), NULL),
        CASE WHEN t.typcategory <> 'U' THEN 'CATEGORY = ' || pg_catalog.quote_literal(t.typcategory::text) END,
        CASE WHEN t.typispreferred THEN 'PREFERRED = true' END,
        CASE WHEN t.typdelim <> ',' THEN 'DELIMITER = ' || pg_catalog.quote_literal(t.typdelim::text) END,
        'ALIGNMENT = ' || CASE t.typalign WHEN 'c' THEN 'char' WHEN 's' THEN 'int2' WHEN 'i' THEN 'int4' ELSE 'double' END,
        'STORAGE = ' || CASE t.typstorage WHEN 'p' THEN 'plain' WHEN 'e' THEN 'external' WHEN 'x' THEN 'extended' ELSE 'main' END,
        CASE WHEN t.typbyval THEN 'PASSEDBYVALUE' END,
        CASE WHEN t.typcollation <> 0 THEN 'COLLATABLE = true' END) AS options
    FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
    WHERE t.typtype = 'b' AND t.typisdefined AND ${userSchema('n.nspname')} AND ${notFromExtension('pg_type', 't.oid')}
      -- Array types come with their element type.
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.typarray = t.oid)
    ORDER BY 3`);
  return rows.flatMap((row) => {
    const shell = `shell:${identity('pg_type', row.oid)}`;
    return [
      dumpObject({
        key: shell,
        kind: 'shell-type',
        section: 'pre-data',
        name: row.name,
        sql: statement(`CREATE TYPE ${row.qname}`),
        after: [identity('pg_namespace', row.namespace)],
      }),
      dumpObject({
        key: identity('pg_type', row.oid),
        kind: 'type',
        section: 'pre-data',
        name: row.name,
        sql: statement(`CREATE TYPE ${row.qname} (\n    ${row.options}\n)`),
        identities: [identity('pg_type', row.oid)],
        after: row.functions.map((oid) => identity('pg_proc', oid)),
        shell,
      }),
    ];
  });
}
