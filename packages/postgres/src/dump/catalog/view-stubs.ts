import type { CatalogReader } from './query.js';

/**
 * For each view, a select list of typed NULLs with its columns' names, types and collations
 * (`NULL::integer AS n, ...`): the stand-in view that breaks a loop of views reading each other
 * (made with CREATE OR REPLACE VIEW), replaced by the real definition once the others exist, as
 * pg_dump does. A view without columns has none.
 */
export async function readViewStubs(reader: CatalogReader): Promise<Map<number, string>> {
  const rows = await reader.rows<{ oid: number; columns: string }>(`
    SELECT a.attrelid AS oid, pg_catalog.string_agg(pg_catalog.format('NULL::%s%s AS %I',
        pg_catalog.format_type(a.atttypid, a.atttypmod),
        CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
          THEN ' COLLATE ' || pg_catalog.format('%I.%I', cn.nspname, co.collname) ELSE '' END,
        a.attname), ', ' ORDER BY a.attnum) AS columns
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_class c ON c.oid = a.attrelid AND c.relkind = 'v'
    JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
    LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
    WHERE a.attnum > 0 AND NOT a.attisdropped
    GROUP BY a.attrelid`);
  return new Map(rows.map((row) => [Number(row.oid), `SELECT ${row.columns}`]));
}
