import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, userSchema } from './query.js';

/**
 * A NOT VALID CHECK (or, 18+, NOT NULL) on a parent that an inheritance child validated on its own
 * (`ALTER TABLE child VALIDATE CONSTRAINT`): the parent's ADD CONSTRAINT ... NOT VALID gives the child
 * a NOT VALID copy, so the child validates it again, after the parent's constraint.
 */
export async function readChildValidations(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{
    oid: number;
    conrelid: number;
    name: string;
    sql: string;
    parent: number;
  }>(`
    SELECT co.oid, co.conrelid, n.nspname || '.' || c.relname || '.' || co.conname AS name,
      pg_catalog.format('ALTER TABLE %I.%I VALIDATE CONSTRAINT %I;', n.nspname, c.relname, co.conname) || E'\\n' AS sql,
      pc.oid AS parent
    FROM pg_catalog.pg_constraint co
    JOIN pg_catalog.pg_class c ON c.oid = co.conrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_inherits i ON i.inhrelid = co.conrelid
    JOIN pg_catalog.pg_constraint pc ON pc.conrelid = i.inhparent AND pc.conname = co.conname
      AND pc.contype = co.contype AND NOT pc.convalidated
    WHERE co.contype IN ('c', 'n') AND co.convalidated AND NOT co.conislocal
      AND ${userSchema('n.nspname')} AND ${notFromExtension('pg_class', 'c.oid')}
    ORDER BY 3`);
  return rows.map((row) =>
    dumpObject({
      key: `validate:${row.oid}`,
      kind: 'constraint',
      section: 'post-data',
      name: row.name,
      sql: row.sql,
      relation: row.conrelid,
      after: [identity('pg_constraint', row.parent)],
    }),
  );
}
