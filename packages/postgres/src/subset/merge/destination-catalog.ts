import type pg from 'pg';

export interface DestinationColumn {
  /** The column's type without typmod, for the cast (assignment then applies the typmod strictly). */
  castType: string;
  generated: boolean;
  identityAlways: boolean;
  /** NOT NULL with no default and no identity: a row without it cannot be inserted. */
  required: boolean;
}

export interface DestinationTable {
  oid: number;
  schema: string;
  name: string;
  qname: string;
  /** The partitioned table a partition belongs to (foreign keys and order are the root's). */
  root: number;
  columns: Map<string, DestinationColumn>;
  primaryKey: string[];
  hasUniqueIndex: boolean;
  /** Columns that own a sequence (serial, identity), with the sequence's qualified name. */
  sequences: { column: string; sequence: string }[];
}

export interface DestinationCatalog {
  tables: Map<string, DestinationTable>;
  /** child root oid -> parent root oids, through foreign keys that are not deferrable. */
  references: Map<number, Set<number>>;
}

export const destinationKey = (schema: string, name: string) => `${schema}.${name}`;

/** The destination's user tables, their columns, keys and foreign keys, read in the merge's transaction. */
export async function readDestinationCatalog(client: pg.Client): Promise<DestinationCatalog> {
  const { rows: tables } = await client.query<{
    oid: number;
    schema: string;
    name: string;
    qname: string;
    root: number;
    pk: string[] | null;
    has_unique: boolean;
  }>(`
    SELECT c.oid, n.nspname AS schema, c.relname AS name, pg_catalog.format('%I.%I', n.nspname, c.relname) AS qname,
      COALESCE(pg_catalog.pg_partition_root(c.oid)::oid, c.oid) AS root,
      (SELECT pg_catalog.array_agg(a.attname::text ORDER BY pg_catalog.array_position(i.indkey::int2[], a.attnum))
         FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,
      EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisunique) AS has_unique
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'`);
  const { rows: columns } = await client.query<{
    oid: number;
    name: string;
    cast_type: string;
    generated: boolean;
    identity_always: boolean;
    required: boolean;
    sequence: string | null;
  }>(`
    SELECT a.attrelid AS oid, a.attname AS name,
      -- Without a typmod, character and bit mean character(1) and bit(1); cast to their unbounded forms.
      CASE a.atttypid WHEN 'pg_catalog.bpchar'::pg_catalog.regtype THEN 'pg_catalog.bpchar'
        WHEN 'pg_catalog._bpchar'::pg_catalog.regtype THEN 'pg_catalog.bpchar[]'
        WHEN 'pg_catalog.bit'::pg_catalog.regtype THEN 'pg_catalog.varbit'
        WHEN 'pg_catalog._bit'::pg_catalog.regtype THEN 'pg_catalog.varbit[]'
        ELSE pg_catalog.format_type(a.atttypid, NULL) END AS cast_type,
      a.attgenerated <> '' AS generated, a.attidentity = 'a' AS identity_always,
      a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AS required,
      pg_catalog.pg_get_serial_sequence(pg_catalog.format('%I.%I', n.nspname, c.relname), a.attname) AS sequence
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
      AND a.attnum > 0 AND NOT a.attisdropped`);
  const byOid = new Map<number, DestinationTable>();
  const result = new Map<string, DestinationTable>();
  for (const row of tables) {
    const table: DestinationTable = {
      oid: Number(row.oid),
      schema: row.schema,
      name: row.name,
      qname: row.qname,
      root: Number(row.root),
      columns: new Map(),
      primaryKey: row.pk ?? [],
      hasUniqueIndex: row.has_unique,
      sequences: [],
    };
    byOid.set(table.oid, table);
    result.set(destinationKey(table.schema, table.name), table);
  }
  for (const column of columns) {
    const table = byOid.get(Number(column.oid));
    if (!table) continue;
    table.columns.set(column.name, {
      castType: column.cast_type,
      generated: column.generated,
      identityAlways: column.identity_always,
      required: column.required,
    });
    if (column.sequence) table.sequences.push({ column: column.name, sequence: column.sequence });
  }
  const { rows: keys } = await client.query<{ child: number; parent: number }>(`
    SELECT COALESCE(pg_catalog.pg_partition_root(conrelid)::oid, conrelid) AS child,
      COALESCE(pg_catalog.pg_partition_root(confrelid)::oid, confrelid) AS parent
    FROM pg_catalog.pg_constraint WHERE contype = 'f' AND NOT condeferrable`);
  const references = new Map<number, Set<number>>();
  for (const key of keys) {
    const child = Number(key.child);
    const parent = Number(key.parent);
    if (child === parent) continue;
    references.set(child, (references.get(child) ?? new Set()).add(parent));
  }
  return { tables: result, references };
}

/**
 * Tables in an order where a table comes after the tables its (non-deferrable) foreign keys point to.
 * A cycle of such keys cannot be ordered; its tables keep their name order (their keys decide).
 */
export function insertOrder(tables: DestinationTable[], catalog: DestinationCatalog): DestinationTable[] {
  const sorted = [...tables].sort((a, b) => a.qname.localeCompare(b.qname));
  const done = new Set<DestinationTable>();
  const visiting = new Set<DestinationTable>();
  const order: DestinationTable[] = [];
  const visit = (table: DestinationTable) => {
    if (done.has(table) || visiting.has(table)) return;
    visiting.add(table);
    const parents = catalog.references.get(table.root) ?? new Set();
    for (const other of sorted) if (other !== table && parents.has(other.root)) visit(other);
    visiting.delete(table);
    done.add(table);
    order.push(table);
  };
  for (const table of sorted) visit(table);
  return order;
}
