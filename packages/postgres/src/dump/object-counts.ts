import type pg from 'pg';

/**
 * Object counts by kind, the oracle a restore drill compares a scratch database against. Generic on
 * purpose: every per-database catalog with an `oid` column is counted, so a kind the dump learns (or
 * forgets) later is covered without touching this file. A user object is a row with an oid of at
 * least FirstNormalObjectId (16384): everything initdb or template0 made sits below it, in every
 * database. Extension members are left out (CREATE EXTENSION makes them), as are temp and TOAST schemas.
 */
const FIRST_NORMAL_OBJECT_ID = 16384;

export const DEFAULT_PRIVILEGES = 'default privileges';

/** Catalogs whose rows split into kinds by one column (relkind 'r' is a table, 'i' an index, ...). */
const KIND_COLUMN: Record<string, string> = {
  pg_class: 'relkind',
  pg_proc: 'prokind',
  pg_type: 'typtype',
  pg_constraint: 'contype',
};

const KIND_NAMES: Record<string, string> = {
  'pg_class:r': 'table',
  'pg_class:p': 'partitioned table',
  'pg_class:v': 'view',
  'pg_class:m': 'materialized view',
  'pg_class:S': 'sequence',
  'pg_class:f': 'foreign table',
  'pg_class:i': 'index',
  'pg_class:I': 'partitioned index',
  'pg_class:c': 'composite type relation',
  'pg_proc:f': 'function',
  'pg_proc:p': 'procedure',
  'pg_proc:a': 'aggregate',
  'pg_proc:w': 'window function',
  'pg_type:b': 'base or array type',
  'pg_type:c': 'row type',
  'pg_type:d': 'domain',
  'pg_type:e': 'enum type',
  'pg_type:r': 'range type',
  'pg_type:m': 'multirange type',
  'pg_type:p': 'pseudo type',
  'pg_constraint:c': 'check constraint',
  'pg_constraint:f': 'foreign key',
  'pg_constraint:p': 'primary key',
  'pg_constraint:u': 'unique constraint',
  'pg_constraint:t': 'constraint trigger',
  'pg_constraint:x': 'exclusion constraint',
  'pg_constraint:n': 'not-null constraint',
  pg_namespace: 'schema',
  pg_trigger: 'trigger',
  pg_rewrite: 'rule',
  pg_policy: 'policy',
  pg_extension: 'extension',
  pg_collation: 'collation',
  pg_attrdef: 'column default',
  pg_enum: 'enum label',
  pg_cast: 'cast',
  pg_conversion: 'conversion',
  pg_operator: 'operator',
  pg_opclass: 'operator class',
  pg_opfamily: 'operator family',
  pg_amop: 'operator of an operator family',
  pg_amproc: 'function of an operator family',
  pg_am: 'access method',
  pg_language: 'language',
  pg_statistic_ext: 'statistics object',
  pg_ts_config: 'text search configuration',
  pg_ts_dict: 'text search dictionary',
  pg_ts_parser: 'text search parser',
  pg_ts_template: 'text search template',
  pg_foreign_data_wrapper: 'foreign data wrapper',
  pg_foreign_server: 'foreign server',
  pg_user_mapping: 'user mapping',
  pg_default_acl: DEFAULT_PRIVILEGES,
  pg_event_trigger: 'event trigger',
  pg_largeobject_metadata: 'large object',
  pg_publication: 'publication',
  pg_publication_rel: 'publication table',
  pg_publication_namespace: 'publication schema',
  pg_transform: 'transform',
};

interface CatalogRow {
  relname: string;
  namespace_column: string | null;
}

/** `{ table: 12, index: 30, ... }`, kinds sorted by name; a kind with no object is absent. */
export async function countObjectsByKind(client: pg.Client): Promise<Record<string, number>> {
  const catalogs = (
    await client.query<CatalogRow>(`
      SELECT c.relname,
        (SELECT a.attname FROM pg_catalog.pg_attribute a
          WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            AND a.atttypid = 'pg_catalog.oid'::pg_catalog.regtype AND a.attname ~ 'namespace$'
          ORDER BY a.attnum LIMIT 1) AS namespace_column
      FROM pg_catalog.pg_class c
      WHERE c.relnamespace = 'pg_catalog'::pg_catalog.regnamespace AND c.relkind = 'r' AND NOT c.relisshared
        AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
          WHERE a.attrelid = c.oid AND a.attname = 'oid' AND a.attnum > 0)
      ORDER BY c.relname`)
  ).rows;
  if (catalogs.length === 0) return {};
  const { rows } = await client.query<{ catalog: string; subkind: string; count: string }>(
    catalogs.map(countQuery).join('\nUNION ALL\n'),
  );
  const counts: Record<string, number> = {};
  for (const row of rows) {
    const key = row.subkind === '' ? row.catalog : `${row.catalog}:${row.subkind}`;
    const kind = KIND_NAMES[key] ?? key;
    counts[kind] = (counts[kind] ?? 0) + Number(row.count);
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

/** Temp schemas (and their TOAST twins) come and go with sessions; TOAST belongs to its table. */
const TRANSIENT_SCHEMA = `'^pg_(toast|temp_|toast_temp_)'`;

/**
 * Catalogs that only a superuser may read, counted through the view that shows their rows to everyone,
 * so a backup made by an ordinary role records the same counts (user mappings: pg_user_mappings).
 */
const READABLE_SOURCE: Record<string, string> = {
  pg_user_mapping: '(SELECT m.umid AS oid FROM pg_catalog.pg_user_mappings m)',
};

function countQuery(catalog: CatalogRow): string {
  const table = `pg_catalog.${catalog.relname}`;
  const kindColumn = KIND_COLUMN[catalog.relname];
  const subkind = kindColumn ? `o.${kindColumn}::text` : "''";
  const conditions = [
    `o.oid >= ${FIRST_NORMAL_OBJECT_ID}`,
    `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
      WHERE d.classid = '${table}'::pg_catalog.regclass AND d.objid = o.oid AND d.deptype = 'e')`,
  ];
  if (catalog.relname === 'pg_class') {
    // An invalid index is not dumped (see readIndexes), so a restore cannot have it.
    conditions.push(`NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index x
      WHERE x.indexrelid = o.oid AND NOT x.indisvalid AND o.relkind = 'i')`);
  }
  if (catalog.relname === 'pg_namespace') {
    // public exists in every database; a recreated one has a new oid but is still not ours to count.
    conditions.push(`o.nspname !~ ${TRANSIENT_SCHEMA}`, `o.nspname <> 'public'`);
  } else if (catalog.namespace_column) {
    conditions.push(`NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
      WHERE n.oid = o.${catalog.namespace_column} AND n.nspname ~ ${TRANSIENT_SCHEMA})`);
  }
  return `SELECT '${catalog.relname}' AS catalog, ${subkind} AS subkind, count(*) AS count
    FROM ${READABLE_SOURCE[catalog.relname] ?? table} o WHERE ${conditions.join(' AND ')} GROUP BY 2`;
}
