import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, statement } from './query.js';

/**
 * The user's rows of extension configuration tables (`pg_extension_config_dump`): CREATE EXTENSION
 * brings the tables and the extension's own rows, the dump the rows its filter selects (e.g.
 * `WHERE NOT builtin`), loaded after the extension. Configuration sequences get their value (setval).
 */
export async function readExtensionData(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{
    extoid: number;
    oid: number;
    relkind: string;
    name: string;
    qname: string;
    literal: string;
    condition: string;
    columns: string[] | null;
  }>(`
    SELECT x.oid AS extoid, c.oid, c.relkind, n.nspname || '.' || c.relname AS name,
      pg_catalog.format('%I.%I', n.nspname, c.relname) AS qname,
      pg_catalog.quote_literal(pg_catalog.format('%I.%I', n.nspname, c.relname)) AS literal,
      COALESCE(x.extcondition[k.n], '') AS condition,
      (SELECT pg_catalog.array_agg(pg_catalog.quote_ident(a.attname) ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS columns
    FROM pg_catalog.pg_extension x, pg_catalog.unnest(x.extconfig) WITH ORDINALITY k(reloid, n),
      pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = k.reloid AND c.relkind IN ('r', 'S')
    ORDER BY 4`);
  const objects: DumpObject[] = [];
  for (const row of rows) {
    const after = [identity('pg_extension', row.extoid)];
    if (row.relkind === 'r') {
      objects.push(
        dumpObject({
          key: `data:${row.oid}`,
          kind: 'table-data',
          section: 'data',
          name: row.name,
          sql: '',
          relation: row.oid,
          after,
          copy: {
            table: row.qname,
            columns: row.columns ?? [],
            where: row.condition,
          },
        }),
      );
      continue;
    }
    const [value] = await reader.rows<{ last_value: string; is_called: boolean }>(
      `SELECT last_value::text AS last_value, is_called FROM ${row.qname}`,
    );
    if (!value) continue;
    objects.push(
      dumpObject({
        key: `setval:${row.oid}`,
        kind: 'sequence-set',
        section: 'data',
        name: row.name,
        sql: statement(`SELECT pg_catalog.setval(${row.literal}, ${value.last_value}, ${value.is_called})`),
        after,
      }),
    );
  }
  return objects;
}
