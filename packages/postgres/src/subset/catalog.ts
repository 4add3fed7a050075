import { NexusError } from '@nexus-backup/core';
import type pg from 'pg';
import type { RowSelection, TableName } from './selection.js';

/**
 * A unit of selection: a table whose rows are picked as one set. A partitioned table is one unit with
 * its partitions (keys and foreign keys live on it); an inheritance child is a unit of its own.
 */
export interface SelectionUnit {
  oid: number;
  schema: string;
  name: string;
  /** Schema-qualified and quoted. */
  qname: string;
  /** `FROM` text that reads exactly this unit's rows: `ONLY` keeps inheritance children out. */
  scan: string;
  /** Row identity: the primary key columns (quoted), or `tableoid, ctid` (stable inside one snapshot). */
  identity: string[];
  columns: Map<string, { type: string; timeKind?: 'timestamptz' | 'timestamp' | 'date' }>;
}

export interface ForeignKey {
  name: string;
  /** The referencing relation (`scan` reads it) and its unit. */
  child: SelectionUnit;
  childScan: string;
  childColumns: string[];
  parent: SelectionUnit;
  parentScan: string;
  parentColumns: string[];
  cascade: boolean;
}

export interface SubsetCatalog {
  units: SelectionUnit[];
  /** Unit of any relation oid (a partition maps to its partitioned root). */
  unitOf: Map<number, SelectionUnit>;
  foreignKeys: ForeignKey[];
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Reads the tables whose data the dump writes (`relations`, leaf tables) and the foreign keys among
 * them, inside the dump's snapshot. Keys declared on a partitioned table are read once, from it.
 */
export async function readSubsetCatalog(client: pg.Client, relations: number[]): Promise<SubsetCatalog> {
  const { rows: tables } = await client.query<{
    oid: number;
    root: number;
    relkind: string;
    schema: string;
    name: string;
    qname: string;
    pk: string[] | null;
  }>(
    `SELECT c.oid, COALESCE(pg_catalog.pg_partition_root(c.oid)::oid, c.oid) AS root, c.relkind,
       n.nspname AS schema, c.relname AS name, pg_catalog.format('%I.%I', n.nspname, c.relname) AS qname,
       (SELECT pg_catalog.array_agg(a.attname::text ORDER BY pg_catalog.array_position(i.indkey::int2[], a.attnum))
          FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = c.oid AND i.indisprimary) AS pk
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = ANY ($1::oid[]) OR c.oid IN (SELECT COALESCE(pg_catalog.pg_partition_root(r)::oid, r) FROM pg_catalog.unnest($1::oid[]) AS r)`,
    [relations],
  );
  const byOid = new Map(tables.map((table) => [Number(table.oid), table]));
  const units = new Map<number, SelectionUnit>();
  const unitOf = new Map<number, SelectionUnit>();
  for (const table of tables) {
    const root = byOid.get(Number(table.root));
    if (!root) continue;
    let unit = units.get(Number(root.oid));
    if (!unit) {
      unit = {
        oid: Number(root.oid),
        schema: root.schema,
        name: root.name,
        qname: root.qname,
        scan: root.relkind === 'p' ? root.qname : `ONLY ${root.qname}`,
        identity: root.pk && root.pk.length > 0 ? root.pk.map(quote) : ['tableoid', 'ctid'],
        columns: new Map(),
      };
      units.set(unit.oid, unit);
    }
    unitOf.set(Number(table.oid), unit);
  }
  const { rows: columns } = await client.query<{ oid: number; name: string; type: string; base: string }>(
    `SELECT a.attrelid AS oid, a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       pg_catalog.format_type(COALESCE(NULLIF(t.typbasetype, 0), a.atttypid), NULL) AS base
     FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = ANY ($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped`,
    [[...units.keys()]],
  );
  const timeKinds: Record<string, 'timestamptz' | 'timestamp' | 'date'> = {
    'timestamp with time zone': 'timestamptz',
    'timestamp without time zone': 'timestamp',
    date: 'date',
  };
  for (const column of columns) {
    const timeKind = timeKinds[column.base];
    units
      .get(Number(column.oid))
      ?.columns.set(column.name, { type: column.type, ...(timeKind ? { timeKind } : {}) });
  }

  const { rows: keys } = await client.query<{
    name: string;
    child: number;
    child_kind: string;
    child_qname: string;
    parent: number;
    parent_kind: string;
    parent_qname: string;
    child_columns: string[];
    parent_columns: string[];
    cascade: boolean;
  }>(
    `SELECT con.conname AS name, con.conrelid AS child, cc.relkind AS child_kind,
       pg_catalog.format('%I.%I', cn.nspname, cc.relname) AS child_qname,
       con.confrelid AS parent, pc.relkind AS parent_kind, pg_catalog.format('%I.%I', pn.nspname, pc.relname) AS parent_qname,
       ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(con.conkey) WITH ORDINALITY AS k(attnum, i)
         JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.i) AS child_columns,
       ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(con.confkey) WITH ORDINALITY AS k(attnum, i)
         JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.i) AS parent_columns,
       con.confdeltype = 'c' AS cascade
     FROM pg_catalog.pg_constraint con
     JOIN pg_catalog.pg_class cc ON cc.oid = con.conrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
     JOIN pg_catalog.pg_class pc ON pc.oid = con.confrelid JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
     WHERE con.contype = 'f' AND con.conparentid = 0
     ORDER BY 3, 1`,
  );
  // Relations outside the dump's tables (excluded ones) are resolved to units when they are partitions.
  const foreignKeys: ForeignKey[] = [];
  for (const key of keys) {
    const child = unitOf.get(Number(key.child)) ?? units.get(Number(key.child));
    const parent = unitOf.get(Number(key.parent)) ?? units.get(Number(key.parent));
    if (!child || !parent) continue;
    foreignKeys.push({
      name: key.name,
      child,
      childScan: key.child_kind === 'p' ? key.child_qname : `ONLY ${key.child_qname}`,
      childColumns: key.child_columns.map(quote),
      parent,
      parentScan: key.parent_kind === 'p' ? key.parent_qname : `ONLY ${key.parent_qname}`,
      parentColumns: key.parent_columns.map(quote),
      cascade: key.cascade,
    });
  }
  return { units: [...units.values()], unitOf, foreignKeys };
}

/** The unit a user named; a bare name must be unique across schemas. */
export function findUnit(catalog: SubsetCatalog, table: TableName, flag: string): SelectionUnit {
  const matches = catalog.units.filter(
    (unit) => unit.name === table.name && (table.schema === undefined || unit.schema === table.schema),
  );
  if (matches.length === 1) return matches[0] as SelectionUnit;
  if (matches.length > 1) {
    throw new NexusError(
      'USAGE',
      `${flag}: table "${table.text}" is ambiguous: ${matches.map((m) => `${m.schema}.${m.name}`).join(', ')}`,
      {
        provider: 'postgres',
        hint: 'qualify it with its schema, e.g. public.' + table.name,
      },
    );
  }
  const known = catalog.units.map((unit) => `${unit.schema}.${unit.name}`).sort();
  throw new NexusError('USAGE', `${flag}: no table "${table.text}" among the tables backed up`, {
    provider: 'postgres',
    hint: `tables: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', ...' : ''}`,
  });
}

export function findColumn(
  unit: SelectionUnit,
  column: string,
  flag: string,
): { type: string; timeKind?: string } {
  const found = unit.columns.get(column);
  if (found) return found;
  throw new NexusError('USAGE', `${flag}: table ${unit.schema}.${unit.name} has no column "${column}"`, {
    provider: 'postgres',
    hint: `its columns: ${[...unit.columns.keys()].join(', ')}`,
  });
}

/** Time columns we recognise by name, in order of preference (`created_at` before `updated_at`-like ones). */
const TIME_COLUMN_NAMES = [
  'created_at',
  'createdat',
  'created',
  'inserted_at',
  'timestamp',
  'ts',
  'at',
  'occurred_at',
  'logged_at',
  'time',
];

/** The units named `table`, without complaint when there is none (a profile's optional tables). */
export function unitsNamed(catalog: SubsetCatalog, table: TableName): SelectionUnit[] {
  return catalog.units.filter(
    (unit) => unit.name === table.name && (table.schema === undefined || unit.schema === table.schema),
  );
}

/**
 * The column `--since` compares for a unit: the one set with `--since-column`, else the profile's,
 * else one named like a creation time.
 */
export function timeColumn(
  unit: SelectionUnit,
  selection: Pick<RowSelection, 'sinceColumns' | 'profileTimeColumns'>,
  catalog: SubsetCatalog,
): string | undefined {
  for (const entry of selection.sinceColumns) {
    if (findUnit(catalog, entry.table, '--since-column') !== unit) continue;
    return checkedTimeColumn(unit, entry.column, '--since-column');
  }
  for (const entry of selection.profileTimeColumns) {
    if (!unitsNamed(catalog, entry.table).includes(unit)) continue;
    return checkedTimeColumn(unit, entry.column, 'profile timeColumns');
  }
  for (const wanted of TIME_COLUMN_NAMES) {
    for (const [name, column] of unit.columns)
      if (name.toLowerCase() === wanted && column.timeKind) return name;
  }
  return undefined;
}

function checkedTimeColumn(unit: SelectionUnit, name: string, flag: string): string {
  const column = findColumn(unit, name, flag);
  if (!column.timeKind) {
    throw new NexusError(
      'USAGE',
      `${flag}: ${unit.schema}.${unit.name}.${name} is ${column.type}, not a date or timestamp`,
      {
        provider: 'postgres',
        hint: 'name a column of type timestamptz, timestamp or date',
      },
    );
  }
  return name;
}
