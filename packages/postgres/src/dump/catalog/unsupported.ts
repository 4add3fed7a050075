import type { DumpObject } from '../model.js';
import { type CatalogReader, notFromExtension, userSchema } from './query.js';

/**
 * Object kinds the dump does not write. Each query selects the oids of that kind's objects in the
 * catalog named next to it; every one found is reported as a gap by name, so a backup never leaves
 * something out silently.
 */
function unsupportedKinds(): [kind: string, catalog: string, oids: string][] {
  const inUserSchema = (catalog: string, alias: string, namespace: string) =>
    `SELECT ${alias}.oid FROM pg_catalog.${catalog} ${alias} JOIN pg_catalog.pg_namespace n ON n.oid = ${alias}.${namespace}
     WHERE ${userSchema('n.nspname')} AND ${notFromExtension(catalog, `${alias}.oid`)}`;
  return [
    [
      'event trigger',
      'pg_event_trigger',
      `SELECT x.oid FROM pg_catalog.pg_event_trigger x WHERE ${notFromExtension('pg_event_trigger', 'x.oid')}`,
    ],
    [
      'foreign server',
      'pg_foreign_server',
      `SELECT x.oid FROM pg_catalog.pg_foreign_server x WHERE ${notFromExtension('pg_foreign_server', 'x.oid')}`,
    ],
    ['text search configuration', 'pg_ts_config', inUserSchema('pg_ts_config', 'x', 'cfgnamespace')],
    ['text search dictionary', 'pg_ts_dict', inUserSchema('pg_ts_dict', 'x', 'dictnamespace')],
    ['operator', 'pg_operator', inUserSchema('pg_operator', 'x', 'oprnamespace')],
    ['operator class', 'pg_opclass', inUserSchema('pg_opclass', 'x', 'opcnamespace')],
    ['collation', 'pg_collation', inUserSchema('pg_collation', 'x', 'collnamespace')],
    ['conversion', 'pg_conversion', inUserSchema('pg_conversion', 'x', 'connamespace')],
    ['statistics object', 'pg_statistic_ext', inUserSchema('pg_statistic_ext', 'x', 'stxnamespace')],
    // A range type's cast to its multirange (14+) belongs to the type (an internal dependency).
    [
      'cast',
      'pg_cast',
      `SELECT x.oid FROM pg_catalog.pg_cast x WHERE x.oid >= 16384 AND ${notFromExtension('pg_cast', 'x.oid')}
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_cast'::pg_catalog.regclass
         AND d.objid = x.oid AND d.deptype = 'i')`,
    ],
    // A language of its own (CREATE LANGUAGE ... HANDLER), not one an extension such as plpgsql brings.
    [
      'procedural language',
      'pg_language',
      `SELECT x.oid FROM pg_catalog.pg_language x WHERE x.oid >= 16384 AND ${notFromExtension('pg_language', 'x.oid')}`,
    ],
    [
      'transform',
      'pg_transform',
      `SELECT x.oid FROM pg_catalog.pg_transform x WHERE ${notFromExtension('pg_transform', 'x.oid')}`,
    ],
  ];
}

/**
 * Reports every object of an unsupported kind as a gap (kind and identity, e.g. `procedural language
 * plsample`), plus every security label: they exist only while a label provider is loaded. Writes nothing.
 */
export async function warnUnsupported(reader: CatalogReader): Promise<DumpObject[]> {
  const kinds = unsupportedKinds();
  const found = kinds.map(
    ([kind, catalog, oids]) =>
      `SELECT ${literal(kind)} AS kind, 'pg_catalog.${catalog}'::pg_catalog.regclass AS classid, o.oid AS objid, 0 AS objsubid
       FROM (${oids}) o`,
  );
  found.push(`SELECT 'security label', s.classoid, s.objoid, s.objsubid FROM pg_catalog.pg_seclabel s`);
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
