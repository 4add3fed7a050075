import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, statement, userSchema } from './query.js';

/** Joins `c` (the relation) and `n` (its schema) and keeps user relations only. */
const USER_RELATION = `JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE ${userSchema('n.nspname')} AND ${notFromExtension('pg_class', 'c.oid')}`;

/** Column defaults as ALTER statements: a default may call a function that itself reads the table. */
export async function readDefaults(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{ oid: number; adrelid: number; name: string; sql: string }>(`
    SELECT d.oid, d.adrelid, n.nspname || '.' || c.relname || '.' || a.attname AS name,
      pg_catalog.format('ALTER %s ONLY %I.%I ALTER COLUMN %I SET DEFAULT %s',
        CASE c.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, n.nspname, c.relname, a.attname,
        pg_catalog.pg_get_expr(d.adbin, d.adrelid)) AS sql
    FROM pg_catalog.pg_attrdef d
    JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
    JOIN pg_catalog.pg_class c ON c.oid = d.adrelid
    ${USER_RELATION} AND a.attgenerated = '' AND NOT a.attisdropped`);
  return rows.map((row) =>
    dumpObject({
      key: identity('pg_attrdef', row.oid),
      kind: 'default',
      section: 'pre-data',
      name: row.name,
      // ALTER VIEW takes no ONLY.
      sql: statement(row.sql.replace(/^ALTER VIEW ONLY /, 'ALTER VIEW ')),
      identities: [identity('pg_attrdef', row.oid)],
      relation: row.adrelid,
      after: [identity('pg_class', row.adrelid)],
    }),
  );
}

interface ConstraintRow {
  oid: number;
  condeferrable: boolean;
  conrelid: number;
  conindid: number;
  contype: string;
  name: string;
  sql: string;
  /** A primary key's or unique constraint's index storage parameters, as `name='value', ...`; null when none. */
  index_options: string | null;
}

/** Primary keys, unique and exclusion constraints, foreign keys, NOT VALID checks and (18+) NOT NULLs. */
export async function readConstraints(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<ConstraintRow>(`
    SELECT co.oid, co.conrelid, co.conindid, co.contype, co.condeferrable, n.nspname || '.' || c.relname || '.' || co.conname AS name,
      pg_catalog.format('ALTER TABLE %s%I.%I ADD CONSTRAINT %I ',
        CASE WHEN co.contype IN ('p', 'u', 'x') OR (co.contype = 'f' AND c.relkind <> 'p') THEN 'ONLY ' ELSE '' END,
        n.nspname, c.relname, co.conname) || pg_catalog.pg_get_constraintdef(co.oid) AS sql,
      CASE WHEN co.contype IN ('p', 'u') THEN (
        SELECT pg_catalog.string_agg(pg_catalog.quote_ident(pg_catalog.split_part(o, '=', 1)) || '='
          || pg_catalog.quote_literal(pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1)), ', ')
        FROM pg_catalog.pg_class i, pg_catalog.unnest(i.reloptions) AS o WHERE i.oid = co.conindid)
      END AS index_options
    FROM pg_catalog.pg_constraint co
    JOIN pg_catalog.pg_class c ON c.oid = co.conrelid
    ${USER_RELATION}
      AND (co.contype IN ('p', 'u', 'x') OR (co.contype = 'f' AND co.conparentid = 0)
        OR (co.contype IN ('c', 'n') AND NOT co.convalidated AND co.conislocal))
    ORDER BY n.nspname, c.relname, co.conname`);
  return rows.map((row) => {
    const identities = [identity('pg_constraint', row.oid)];
    // The index behind a key belongs to the constraint; a foreign key's conindid is the referenced index.
    if (row.contype !== 'f' && row.conindid !== 0) identities.push(identity('pg_class', row.conindid));
    return dumpObject({
      key: identity('pg_constraint', row.oid),
      kind: row.contype === 'f' ? 'foreign-key' : 'constraint',
      deferrable: row.condeferrable,
      section: 'post-data',
      name: row.name,
      sql: statement(withIndexOptions(row.sql, row.index_options)),
      identities,
      relation: row.conrelid,
      after: [identity('pg_class', row.conrelid)],
    });
  });
}

/**
 * pg_get_constraintdef leaves out the storage parameters of a primary key's or unique constraint's
 * index (`WITH (fillfactor=70)`; PostgreSQL prints them only for its own full commands, and for an
 * exclusion constraint always). They go where the syntax takes them: after the column list and
 * INCLUDE, before DEFERRABLE, which ends the definition.
 */
function withIndexOptions(sql: string, options: string | null): string {
  if (options === null) return sql;
  const at = / DEFERRABLE( INITIALLY DEFERRED)?$/.exec(sql)?.index ?? sql.length;
  return `${sql.slice(0, at)} WITH (${options})${sql.slice(at)}`;
}

/**
 * Table settings that name one of its indexes, after that index (or the key that owns it): the index
 * CLUSTER uses (`ALTER TABLE ... CLUSTER ON`) and REPLICA IDENTITY USING INDEX, as pg_dump writes them.
 */
export async function readIndexUses(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{
    indexrelid: number;
    indrelid: number;
    name: string;
    clustered: boolean;
    replica: boolean;
    qtable: string;
    qindex: string;
  }>(`
    SELECT i.indexrelid, i.indrelid, n.nspname || '.' || c.relname || '.' || ic.relname AS name,
      i.indisclustered AS clustered, i.indisreplident AND c.relreplident = 'i' AS replica,
      pg_catalog.format('%I.%I', n.nspname, c.relname) AS qtable, pg_catalog.quote_ident(ic.relname) AS qindex
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
    ${USER_RELATION}
      AND (i.indisclustered OR (i.indisreplident AND c.relreplident = 'i'))
    ORDER BY n.nspname, c.relname, ic.relname`);
  const use = (row: (typeof rows)[number], kind: 'cluster-on' | 'replica-identity', clause: string) =>
    dumpObject({
      key: `${kind}:${row.indexrelid}`,
      kind,
      section: 'post-data',
      name: row.name,
      sql: statement(`ALTER TABLE ONLY ${row.qtable} ${clause} ${row.qindex}`),
      relation: row.indrelid,
      after: [identity('pg_class', row.indexrelid)],
    });
  return rows.flatMap((row) => [
    ...(row.clustered ? [use(row, 'cluster-on', 'CLUSTER ON')] : []),
    ...(row.replica ? [use(row, 'replica-identity', 'REPLICA IDENTITY USING INDEX')] : []),
  ]);
}

/**
 * Indexes that no constraint owns, and the ATTACH of each partition's index to its parent's. An invalid
 * index (what a failed CREATE INDEX or REINDEX CONCURRENTLY leaves) is left out, like pg_dump does: it
 * serves no query, and building it could fail the restore (the duplicates that made it fail). A
 * partitioned index is invalid only until every partition has one, so it stays.
 */
export async function readIndexes(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{
    indexrelid: number;
    indrelid: number;
    name: string;
    sql: string;
    statistics: string | null;
    parent: number | null;
  }>(`
    SELECT i.indexrelid, i.indrelid, n.nspname || '.' || ic.relname AS name,
      pg_catalog.pg_get_indexdef(i.indexrelid) AS sql,
      -- An expression column's statistics target (ALTER INDEX ... ALTER COLUMN 1 SET STATISTICS 100).
      (SELECT pg_catalog.string_agg(pg_catalog.format(E'ALTER INDEX %I.%I ALTER COLUMN %s SET STATISTICS %s;\n',
          n.nspname, ic.relname, a.attnum, a.attstattarget), '' ORDER BY a.attnum)
        FROM pg_catalog.pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0) AS statistics,
      (SELECT inh.inhparent FROM pg_catalog.pg_inherits inh WHERE inh.inhrelid = i.indexrelid) AS parent
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
    ${USER_RELATION} AND (i.indisvalid OR ic.relkind = 'I')
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint co WHERE co.conindid = i.indexrelid
        AND co.conrelid = i.indrelid AND co.contype IN ('p', 'u', 'x'))
    ORDER BY n.nspname, ic.relname`);
  const objects = rows.map((row) =>
    dumpObject({
      key: identity('pg_class', row.indexrelid),
      kind: 'index',
      section: 'post-data',
      name: row.name,
      sql: statement(row.sql) + (row.statistics ?? ''),
      identities: [identity('pg_class', row.indexrelid)],
      relation: row.indrelid,
      after: [identity('pg_class', row.indrelid)],
    }),
  );
  const attachments = await reader.rows<{
    child: number;
    parent: number;
    relation: number;
    name: string;
    sql: string;
  }>(`
    SELECT inh.inhrelid AS child, inh.inhparent AS parent, ix.indrelid AS relation, n.nspname || '.' || ci.relname AS name,
      pg_catalog.format('ALTER INDEX %I.%I ATTACH PARTITION %I.%I', pn.nspname, pi.relname, n.nspname, ci.relname) AS sql
    FROM pg_catalog.pg_inherits inh
    JOIN pg_catalog.pg_class ci ON ci.oid = inh.inhrelid
    JOIN pg_catalog.pg_index ix ON ix.indexrelid = ci.oid
    JOIN pg_catalog.pg_class pi ON pi.oid = inh.inhparent
    JOIN pg_catalog.pg_namespace pn ON pn.oid = pi.relnamespace
    JOIN pg_catalog.pg_class c ON c.oid = ix.indrelid
    ${USER_RELATION} AND (ix.indisvalid OR ci.relkind = 'I')`);
  for (const row of attachments) {
    objects.push(
      dumpObject({
        key: `attach:${row.child}`,
        kind: 'index-attach',
        section: 'post-data',
        name: row.name,
        sql: statement(row.sql),
        relation: row.relation,
        after: [identity('pg_class', row.parent), identity('pg_class', row.child)],
      }),
    );
  }
  return objects;
}

interface TriggerRow {
  oid: number;
  tgrelid: number;
  name: string;
  definition: string | null;
  tgenabled: string;
  parent_trigger: number;
  parent_enabled: string | null;
  table: string;
  quoted: string;
}

/** User triggers (constraint triggers included); a partition's cloned trigger only when its enabled state differs. */
export async function readTriggers(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<TriggerRow>(`
    SELECT tg.oid, tg.tgrelid, n.nspname || '.' || c.relname || '.' || tg.tgname AS name,
      CASE WHEN tg.tgparentid = 0 THEN pg_catalog.pg_get_triggerdef(tg.oid) END AS definition,
      tg.tgenabled, tg.tgparentid AS parent_trigger,
      (SELECT p.tgenabled FROM pg_catalog.pg_trigger p WHERE p.oid = tg.tgparentid) AS parent_enabled,
      pg_catalog.format('%I.%I', n.nspname, c.relname) AS table, pg_catalog.quote_ident(tg.tgname) AS quoted
    FROM pg_catalog.pg_trigger tg
    JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid
    ${USER_RELATION} AND NOT tg.tgisinternal
    ORDER BY n.nspname, c.relname, tg.tgname`);
  const objects: DumpObject[] = [];
  for (const row of rows) {
    const enable = enableStatement(row);
    if (row.parent_trigger !== 0) {
      if (row.tgenabled === row.parent_enabled) continue;
      objects.push(
        dumpObject({
          key: identity('pg_trigger', row.oid),
          kind: 'trigger',
          section: 'post-data',
          name: row.name,
          sql: statement(`ALTER TABLE ONLY ${row.table} ${enable} ${row.quoted}`),
          relation: row.tgrelid,
          after: [identity('pg_trigger', row.parent_trigger)],
        }),
      );
      continue;
    }
    let sql = statement(row.definition ?? '');
    if (row.tgenabled !== 'O') sql += statement(`ALTER TABLE ${row.table} ${enable} ${row.quoted}`);
    objects.push(
      dumpObject({
        key: identity('pg_trigger', row.oid),
        kind: 'trigger',
        section: 'post-data',
        name: row.name,
        sql,
        identities: [identity('pg_trigger', row.oid)],
        relation: row.tgrelid,
        after: [identity('pg_class', row.tgrelid)],
      }),
    );
  }
  return objects;
}

function enableStatement(row: TriggerRow): string {
  switch (row.tgenabled) {
    case 'D':
      return 'DISABLE TRIGGER';
    case 'R':
      return 'ENABLE REPLICA TRIGGER';
    case 'A':
      return 'ENABLE ALWAYS TRIGGER';
    default:
      return 'ENABLE TRIGGER';
  }
}

/** Rules other than a view's own `_RETURN`. */
export async function readRules(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{ oid: number; ev_class: number; name: string; sql: string }>(`
    SELECT r.oid, r.ev_class, n.nspname || '.' || c.relname || '.' || r.rulename AS name,
      pg_catalog.pg_get_ruledef(r.oid) ||
        CASE r.ev_enabled WHEN 'D' THEN pg_catalog.format(E'\\nALTER TABLE %I.%I DISABLE RULE %I;', n.nspname, c.relname, r.rulename)
          WHEN 'R' THEN pg_catalog.format(E'\\nALTER TABLE %I.%I ENABLE REPLICA RULE %I;', n.nspname, c.relname, r.rulename)
          WHEN 'A' THEN pg_catalog.format(E'\\nALTER TABLE %I.%I ENABLE ALWAYS RULE %I;', n.nspname, c.relname, r.rulename)
          ELSE '' END AS sql
    FROM pg_catalog.pg_rewrite r
    JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
    ${USER_RELATION} AND r.rulename <> '_RETURN'
    ORDER BY n.nspname, c.relname, r.rulename`);
  return rows.map((row) =>
    dumpObject({
      key: identity('pg_rewrite', row.oid),
      kind: 'rule',
      section: 'post-data',
      name: row.name,
      sql: statement(row.sql),
      identities: [identity('pg_rewrite', row.oid)],
      relation: row.ev_class,
      after: [identity('pg_class', row.ev_class)],
    }),
  );
}

/** ENABLE/FORCE ROW LEVEL SECURITY after the data (so loading is not filtered), then the policies. */
export async function readRowSecurity(reader: CatalogReader): Promise<DumpObject[]> {
  const tables = await reader.rows<{ oid: number; name: string; sql: string }>(`
    SELECT c.oid, n.nspname || '.' || c.relname AS name,
      pg_catalog.format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY;', n.nspname, c.relname) ||
        CASE WHEN c.relforcerowsecurity THEN pg_catalog.format(E'\\nALTER TABLE %I.%I FORCE ROW LEVEL SECURITY;', n.nspname, c.relname)
        ELSE '' END AS sql
    FROM pg_catalog.pg_class c
    ${USER_RELATION} AND c.relrowsecurity
    ORDER BY n.nspname, c.relname`);
  const objects = tables.map((row) =>
    dumpObject({
      key: `row-security:${row.oid}`,
      kind: 'row-security',
      section: 'post-data',
      name: row.name,
      sql: statement(row.sql),
      relation: row.oid,
      after: [identity('pg_class', row.oid)],
    }),
  );
  const policies = await reader.rows<{ oid: number; polrelid: number; name: string; sql: string }>(`
    SELECT p.oid, p.polrelid, n.nspname || '.' || c.relname || '.' || p.polname AS name,
      pg_catalog.format('CREATE POLICY %I ON %I.%I', p.polname, n.nspname, c.relname)
        || CASE WHEN p.polpermissive THEN '' ELSE ' AS RESTRICTIVE' END
        || ' FOR ' || CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
             WHEN 'd' THEN 'DELETE' ELSE 'ALL' END
        || ' TO ' || (SELECT pg_catalog.string_agg(CASE WHEN r.role = 0 THEN 'PUBLIC'
             ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.role)) END, ', ' ORDER BY r.position)
             FROM pg_catalog.unnest(p.polroles) WITH ORDINALITY AS r(role, position))
        || COALESCE(' USING (' || pg_catalog.pg_get_expr(p.polqual, p.polrelid) || ')', '')
        || COALESCE(' WITH CHECK (' || pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) || ')', '') AS sql
    FROM pg_catalog.pg_policy p
    JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
    ${USER_RELATION}
    ORDER BY n.nspname, c.relname, p.polname`);
  for (const row of policies) {
    objects.push(
      dumpObject({
        key: identity('pg_policy', row.oid),
        kind: 'policy',
        section: 'post-data',
        name: row.name,
        sql: statement(row.sql),
        identities: [identity('pg_policy', row.oid)],
        relation: row.polrelid,
        after: [identity('pg_class', row.polrelid)],
      }),
    );
  }
  return objects;
}
