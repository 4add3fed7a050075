import type { DumpObject } from '../model.js';
import { type CatalogReader, notFromExtension, userSchema } from './query.js';

/** Object kinds the dump does not write, each counted so the user is told instead of surprised. */
function unsupportedKinds(): [string, string][] {
  const inUserSchema = (catalog: string, alias: string, namespace: string) =>
    `SELECT count(*) FROM pg_catalog.${catalog} ${alias} JOIN pg_catalog.pg_namespace n ON n.oid = ${alias}.${namespace}
     WHERE ${userSchema('n.nspname')} AND ${notFromExtension(catalog, `${alias}.oid`)}`;
  return [
    [
      'event trigger',
      `SELECT count(*) FROM pg_catalog.pg_event_trigger x WHERE ${notFromExtension('pg_event_trigger', 'x.oid')}`,
    ],
    ['publication', 'SELECT count(*) FROM pg_catalog.pg_publication'],
    ['large object', 'SELECT count(*) FROM pg_catalog.pg_largeobject_metadata'],
    [
      'foreign server',
      `SELECT count(*) FROM pg_catalog.pg_foreign_server x WHERE ${notFromExtension('pg_foreign_server', 'x.oid')}`,
    ],
    ['text search configuration', inUserSchema('pg_ts_config', 'x', 'cfgnamespace')],
    ['text search dictionary', inUserSchema('pg_ts_dict', 'x', 'dictnamespace')],
    ['operator', inUserSchema('pg_operator', 'x', 'oprnamespace')],
    ['operator class', inUserSchema('pg_opclass', 'x', 'opcnamespace')],
    ['collation', inUserSchema('pg_collation', 'x', 'collnamespace')],
    ['conversion', inUserSchema('pg_conversion', 'x', 'connamespace')],
    ['statistics object', inUserSchema('pg_statistic_ext', 'x', 'stxnamespace')],
    // A range type's cast to its multirange (14+) belongs to the type (an internal dependency).
    [
      'cast',
      `SELECT count(*) FROM pg_catalog.pg_cast x WHERE x.oid >= 16384 AND ${notFromExtension('pg_cast', 'x.oid')}
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_cast'::pg_catalog.regclass
         AND d.objid = x.oid AND d.deptype = 'i')`,
    ],
  ];
}

/** Warns once per unsupported kind present in the database; writes nothing. */
export async function warnUnsupported(reader: CatalogReader): Promise<DumpObject[]> {
  const kinds = unsupportedKinds();
  const [row] = await reader.rows<Record<string, string>>(
    `SELECT ${kinds.map(([, sql], index) => `(${sql}) AS k${index}`).join(', ')}`,
  );
  kinds.forEach(([kind], index) => {
    const count = Number(row?.[`k${index}`] ?? 0);
    if (count > 0)
      reader.warn(
        `${count} ${kind}${count === 1 ? '' : 's'} not dumped: the postgres source does not support them yet`,
      );
  });
  return [];
}
