import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, statement } from './query.js';

/**
 * Publications like pg_dump's: `CREATE PUBLICATION` with its publish options (and FOR ALL TABLES), then
 * one `ALTER PUBLICATION ... ADD` per table (ONLY, with its column list and row filter, 15+) and per
 * schema (`TABLES IN SCHEMA`, 15+), each after what it names. All in post-data, after the tables.
 */
export async function readPublications(reader: CatalogReader): Promise<DumpObject[]> {
  const v = reader.version;
  const viaRoot = v >= 130000 ? 'p.pubviaroot' : 'false';
  const generated = v >= 180000 ? "p.pubgencols = 's'" : 'false';
  const publications = await reader.rows<{ oid: number; pubname: string; sql: string }>(`
    SELECT p.oid, p.pubname,
      'CREATE PUBLICATION ' || pg_catalog.quote_ident(p.pubname)
        || CASE WHEN p.puballtables THEN ' FOR ALL TABLES' ELSE '' END
        || ' WITH (publish = ' || pg_catalog.quote_literal(pg_catalog.concat_ws(', ',
             CASE WHEN p.pubinsert THEN 'insert' END, CASE WHEN p.pubupdate THEN 'update' END,
             CASE WHEN p.pubdelete THEN 'delete' END, CASE WHEN p.pubtruncate THEN 'truncate' END))
        || CASE WHEN ${viaRoot} THEN ', publish_via_partition_root = true' ELSE '' END
        || CASE WHEN ${generated} THEN ', publish_generated_columns = stored' ELSE '' END
        || ')' AS sql
    FROM pg_catalog.pg_publication p ORDER BY p.pubname`);
  const objects = publications.map((row) =>
    dumpObject({
      key: identity('pg_publication', row.oid),
      kind: 'publication',
      section: 'post-data',
      name: row.pubname,
      sql: statement(row.sql),
      identities: [identity('pg_publication', row.oid)],
    }),
  );
  const columns =
    v >= 150000
      ? `CASE WHEN r.prattrs IS NULL THEN '' ELSE ' (' || (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.n)
           FROM pg_catalog.unnest(r.prattrs::pg_catalog.int2[]) WITH ORDINALITY k(attnum, n)
           JOIN pg_catalog.pg_attribute a ON a.attrelid = r.prrelid AND a.attnum = k.attnum) || ')' END`
      : "''";
  const filter =
    v >= 150000
      ? `CASE WHEN r.prqual IS NULL THEN '' ELSE ' WHERE (' || pg_catalog.pg_get_expr(r.prqual, r.prrelid) || ')' END`
      : "''";
  const members = await reader.rows<{ catalog: string; oid: number; name: string; sql: string }>(`
    SELECT 'pg_publication_rel' AS catalog, r.oid, p.pubname || ' ' || r.prrelid::pg_catalog.regclass::text AS name,
      'ALTER PUBLICATION ' || pg_catalog.quote_ident(p.pubname) || ' ADD TABLE ONLY '
        || r.prrelid::pg_catalog.regclass::text || ${columns} || ${filter} AS sql
    FROM pg_catalog.pg_publication_rel r JOIN pg_catalog.pg_publication p ON p.oid = r.prpubid
    ${
      v >= 150000
        ? `UNION ALL SELECT 'pg_publication_namespace', s.oid, p.pubname || ' schema ' || n.nspname,
      'ALTER PUBLICATION ' || pg_catalog.quote_ident(p.pubname) || ' ADD TABLES IN SCHEMA ' || pg_catalog.quote_ident(n.nspname)
    FROM pg_catalog.pg_publication_namespace s JOIN pg_catalog.pg_publication p ON p.oid = s.pnpubid
      JOIN pg_catalog.pg_namespace n ON n.oid = s.pnnspid`
        : ''
    }
    ORDER BY 3`);
  for (const row of members) {
    objects.push(
      dumpObject({
        key: identity(row.catalog, row.oid),
        kind: 'publication-member',
        section: 'post-data',
        name: row.name,
        sql: statement(row.sql),
        identities: [identity(row.catalog, row.oid)],
      }),
    );
  }
  return objects;
}
