import type { DumpObject } from '../model.js';
import type { CatalogReader } from './query.js';

/**
 * Object kinds the dump does not write. Each query selects the oids of that kind's objects in the
 * catalog named next to it; every one found is reported as a gap by name, so a backup never leaves
 * something out silently. Every per-database kind pg_dump writes is written today, so the list is
 * empty; a kind the dump cannot write yet goes here (security labels are found apart, below).
 */
function unsupportedKinds(): [kind: string, catalog: string, oids: string][] {
  return [];
}

/**
 * Reports every object of an unsupported kind as a gap (kind and identity, e.g. `security label on
 * table public.t`), plus every security label: they exist only while a label provider is loaded. Writes nothing.
 */
export async function warnUnsupported(reader: CatalogReader): Promise<DumpObject[]> {
  const kinds = unsupportedKinds();
  const found = kinds.map(
    ([kind, catalog, oids]) =>
      `SELECT ${literal(kind)} AS kind, 'pg_catalog.${catalog}'::pg_catalog.regclass AS classid, o.oid AS objid, 0 AS objsubid
       FROM (${oids}) o`,
  );
  // Named columns: with no unsupported kind left, this is the union's first (and only) branch.
  found.push(
    `SELECT 'security label' AS kind, s.classoid AS classid, s.objoid AS objid, s.objsubid FROM pg_catalog.pg_seclabel s`,
  );
  const rows = await reader.rows<{ kind: string; name: string }>(`
    SELECT f.kind, CASE WHEN f.kind = 'security label' THEN 'on ' || i.type || ' ' || i.identity ELSE i.identity END AS name
    FROM (${found.join('\n    UNION ALL ')}) f,
      LATERAL pg_catalog.pg_identify_object(f.classid, f.objid, f.objsubid) i
    ORDER BY 1, 2`);
  for (const row of rows) reader.gap(row.kind, row.name);
  return [];
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
