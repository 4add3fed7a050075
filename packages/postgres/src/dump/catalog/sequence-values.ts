import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, statement, userSchema } from './query.js';

/**
 * setval for every user sequence, identity ones included. Read as text so int8 keeps its precision.
 * Sequences are not transactional: the value is the one at read time, not the snapshot's (as pg_dump).
 */
export async function readSequenceValues(reader: CatalogReader): Promise<DumpObject[]> {
  const sequences = await reader.rows<{
    oid: number;
    name: string;
    qname: string;
    literal: string;
    owner: number | null;
  }>(`
    SELECT c.oid, n.nspname || '.' || c.relname AS name, pg_catalog.format('%I.%I', n.nspname, c.relname) AS qname,
      pg_catalog.quote_literal(pg_catalog.format('%I.%I', n.nspname, c.relname)) AS literal,
      (SELECT d.refobjid FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
        AND d.objid = c.oid AND d.deptype = 'i' AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass) AS owner
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'S' AND ${userSchema('n.nspname')} AND ${notFromExtension('pg_class', 'c.oid')}
    ORDER BY 1`);
  const objects: DumpObject[] = [];
  for (let start = 0; start < sequences.length; start += 200) {
    const batch = sequences.slice(start, start + 200);
    const values = await reader.rows<{ oid: number; last_value: string; is_called: boolean }>(
      batch
        .map((s) => `SELECT ${s.oid}::oid AS oid, last_value::text AS last_value, is_called FROM ${s.qname}`)
        .join('\nUNION ALL '),
    );
    const byOid = new Map(values.map((value) => [Number(value.oid), value]));
    for (const sequence of batch) {
      const value = byOid.get(sequence.oid);
      if (!value) continue;
      // An identity sequence has no object of its own; it follows its table.
      const relation = sequence.owner ?? sequence.oid;
      objects.push(
        dumpObject({
          key: `setval:${sequence.oid}`,
          kind: 'sequence-set',
          section: 'data',
          name: sequence.name,
          sql: statement(
            `SELECT pg_catalog.setval(${sequence.literal}, ${value.last_value}, ${value.is_called})`,
          ),
          relation,
          after: [identity('pg_class', relation)],
        }),
      );
    }
  }
  return objects;
}
