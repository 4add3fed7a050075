import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, userSchema } from './query.js';

/**
 * The inheritance children's copies of a parent's NOT VALID CHECK (or, 18+, NOT NULL), which the
 * parent's ADD CONSTRAINT ... NOT VALID makes after the data: a child that validated its copy on its own
 * (`ALTER TABLE child VALIDATE CONSTRAINT`) validates it again there, and a comment on a copy goes there.
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
      CASE WHEN co.convalidated THEN pg_catalog.format('ALTER TABLE %I.%I VALIDATE CONSTRAINT %I;', n.nspname, c.relname, co.conname) || E'\\n'
        ELSE '' END AS sql,
      pc.oid AS parent
    FROM pg_catalog.pg_constraint co
    JOIN pg_catalog.pg_class c ON c.oid = co.conrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_inherits i ON i.inhrelid = co.conrelid
    JOIN pg_catalog.pg_constraint pc ON pc.conrelid = i.inhparent AND pc.conname = co.conname
      AND pc.contype = co.contype AND NOT pc.convalidated
    WHERE co.contype IN ('c', 'n') AND NOT co.conislocal
      AND ${userSchema('n.nspname')} AND ${notFromExtension('pg_class', 'c.oid')}
    ORDER BY 3`);
  return rows.map((row) =>
    dumpObject({
      key: `validate:${row.oid}`,
      kind: 'constraint',
      section: 'post-data',
      name: row.name,
      sql: row.sql,
      // Its comment too: the copy exists only once the parent's constraint is added.
      identities: [identity('pg_constraint', row.oid)],
      relation: row.conrelid,
      after: [identity('pg_constraint', row.parent)],
    }),
  );
}
