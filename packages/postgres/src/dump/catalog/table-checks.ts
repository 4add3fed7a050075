import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, statement } from './query.js';

export interface CheckRow {
  oid: number;
  conrelid: number;
  /** `CONSTRAINT name CHECK (...)`. */
  definition: string;
  /** Schema-qualified table and constraint name, for display. */
  name: string;
  qtable: string;
  /** The check calls a function that takes or returns the table's own row type (see below). */
  separate: boolean;
}

/**
 * Validated CHECK constraints go inside CREATE TABLE. A partition repeats its parent's (ATTACH requires
 * them); an inheritance child leaves the inherited ones to INHERITS. NOT VALID ones come after the data.
 * A check calling a function of the table's own row type (`CHECK (ok(t.*))`) cannot: the function
 * needs the table's type first, so that check is added once both exist, as pg_dump does.
 */
export async function readTableChecks(reader: CatalogReader): Promise<CheckRow[]> {
  return reader.rows<CheckRow>(`
    SELECT co.oid, co.conrelid, pg_catalog.format('CONSTRAINT %I ', co.conname) || pg_catalog.pg_get_constraintdef(co.oid) AS definition,
      n.nspname || '.' || c.relname || '.' || co.conname AS name, pg_catalog.format('%I.%I', n.nspname, c.relname) AS qtable,
      co.conislocal AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
        JOIN pg_catalog.pg_depend fd ON fd.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND fd.objid = d.refobjid
        WHERE d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objid = co.oid
          AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
          AND fd.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND fd.refobjid = c.reltype) AS separate
    FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_class c ON c.oid = co.conrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE co.contype = 'c' AND co.convalidated AND (co.conislocal OR c.relispartition)
    ORDER BY co.conrelid, co.conname`);
}

/** A check added apart from its table, after the function it calls (without ONLY: children get it too). */
export function separateCheck(check: CheckRow): DumpObject {
  return dumpObject({
    key: identity('pg_constraint', check.oid),
    kind: 'constraint',
    section: 'pre-data',
    name: check.name,
    sql: statement(`ALTER TABLE ${check.qtable} ADD ${check.definition}`),
    identities: [identity('pg_constraint', check.oid)],
    relation: check.conrelid,
    after: [identity('pg_class', check.conrelid)],
  });
}
