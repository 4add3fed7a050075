import type { Client } from 'pg';
import { IDENT, QNAME, tableKey, unquoteIdentifier } from './post-data-statement.js';

/**
 * A PRIMARY KEY or UNIQUE constraint built in two steps: its unique index first (a SHARE lock, so it
 * builds beside the table's other index builds), then the quick attach of that index as the
 * constraint (ACCESS EXCLUSIVE, but only a catalog change). The result is the constraint the single
 * statement makes: same names, index definition and `conindid` link.
 */
export interface SplitKeyBuild {
  /** `schema.table`, unquoted (as the markers and data artifacts name it). */
  table: string;
  /** The key's columns, unquoted. */
  columns: string[];
  primaryKey: boolean;
  /** `CREATE UNIQUE INDEX <constraint> ON <table> USING btree (<columns>)` */
  createIndex: string;
  /** `ALTER TABLE ONLY <table> ADD CONSTRAINT <name> PRIMARY KEY USING INDEX <name>` (or UNIQUE). */
  attach: string;
}

/**
 * Only the plain form, `ALTER TABLE [ONLY] t ADD CONSTRAINT c PRIMARY KEY|UNIQUE (a, b)`, where the
 * index a plain CREATE UNIQUE INDEX makes is exactly the constraint's (btree, default operator classes,
 * collations and ordering). Anything after the column list (INCLUDE, WITH (...), USING INDEX
 * TABLESPACE, DEFERRABLE), NULLS [NOT] DISTINCT, WITHOUT OVERLAPS and exclusion constraints do not
 * match and keep the single statement.
 */
const PLAIN_KEY = new RegExp(
  String.raw`^ALTER\s+TABLE\s+(?:ONLY\s+)?(${QNAME})\s+ADD\s+CONSTRAINT\s+(${IDENT})\s+(PRIMARY\s+KEY|UNIQUE)\s*` +
    String.raw`\(\s*(${IDENT}(?:\s*,\s*${IDENT})*)\s*\)\s*;?\s*$`,
  'i',
);

/** The two-step build of a plain key constraint statement, or undefined for any other statement. */
export function splitKeyBuild(sql: string): SplitKeyBuild | undefined {
  const match = PLAIN_KEY.exec(sql);
  if (!match) return undefined;
  const [, table, name, kind, columnList] = match as unknown as [string, string, string, string, string];
  const primaryKey = /^PRIMARY/i.test(kind);
  const keyword = primaryKey ? 'PRIMARY KEY' : 'UNIQUE';
  return {
    table: tableKey(table),
    columns: (columnList.match(new RegExp(IDENT, 'g')) ?? []).map(unquoteIdentifier),
    primaryKey,
    createIndex: `CREATE UNIQUE INDEX ${name} ON ${table} USING btree (${columnList});`,
    attach: `ALTER TABLE ONLY ${table} ADD CONSTRAINT ${name} ${keyword} USING INDEX ${name};`,
  };
}

/** Whether `split` makes the same constraint as its single statement in the restored database. */
export function splitKeepsResult(
  split: SplitKeyBuild,
  notNull: ReadonlyMap<string, ReadonlySet<string>>,
): boolean {
  // A primary key on a nullable column would make the attach scan the table and set NOT NULL.
  if (!split.primaryKey) return true;
  const columns = notNull.get(split.table);
  return columns !== undefined && split.columns.every((column) => columns.has(column));
}

/**
 * The NOT NULL columns of every plain table (`schema.table` -> column names, unquoted), as pre-data made
 * them. A column whose NOT NULL is a constraint not valid or not inherited (PostgreSQL 18) is left out:
 * a primary key on it would change that constraint.
 */
export async function notNullColumns(client: Client): Promise<Map<string, Set<string>>> {
  const { rows } = await client.query<{ name: string; column: string }>(`
    SELECT n.nspname || '.' || c.relname AS name, a.attname AS column
      FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint nn
                        WHERE nn.conrelid = a.attrelid AND nn.contype = 'n' AND nn.conkey[1] = a.attnum
                          AND (NOT nn.convalidated OR nn.connoinherit))`);
  const columns = new Map<string, Set<string>>();
  for (const row of rows) {
    const set = columns.get(row.name) ?? new Set<string>();
    set.add(row.column);
    columns.set(row.name, set);
  }
  return columns;
}
