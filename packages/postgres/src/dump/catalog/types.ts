import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, statement, userSchema } from './query.js';

interface TypeRow {
  oid: number;
  typrelid: number;
  typtype: string;
  name: string;
  qname: string;
}

/** Enum, composite, domain, range and lone shell types; base types are base-types.ts's. */
export async function readTypes(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<TypeRow>(`
    SELECT t.oid, t.typrelid, t.typtype, n.nspname || '.' || t.typname AS name,
      pg_catalog.format('%I.%I', n.nspname, t.typname) AS qname
    FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
    WHERE ${userSchema('n.nspname')} AND ${notFromExtension('pg_type', 't.oid')}
      AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.typarray = t.oid)
      AND t.typtype <> 'm'
    ORDER BY n.nspname, t.typname`);
  const objects: DumpObject[] = [];
  for (const row of rows) {
    const definition = await typeDefinition(reader, row);
    if (definition === undefined) continue;
    const { sql, notValid = [] } = definition;
    // A NOT VALID domain check is added after the data it would reject; its comment goes with it.
    for (const constraint of notValid) {
      objects.push(
        dumpObject({
          key: identity('pg_constraint', constraint.oid),
          kind: 'constraint',
          section: 'post-data',
          name: row.name,
          sql: constraint.sql,
          identities: [identity('pg_constraint', constraint.oid)],
          after: [identity('pg_type', row.oid)],
        }),
      );
    }
    const identities = [identity('pg_type', row.oid)];
    if (row.typrelid !== 0) identities.push(identity('pg_class', row.typrelid));
    objects.push(
      dumpObject({
        key: identity('pg_type', row.oid),
        kind: 'type',
        section: 'pre-data',
        name: row.name,
        sql,
        identities,
      }),
    );
  }
  return objects;
}

/** A NOT VALID domain constraint: its ALTER DOMAIN ... ADD and its pg_constraint oid. */
interface LaterConstraint {
  oid: number;
  sql: string;
}

/** The CREATE statement, and a domain's NOT VALID constraints. */
async function typeDefinition(
  reader: CatalogReader,
  type: TypeRow,
): Promise<{ sql: string; notValid?: LaterConstraint[] } | undefined> {
  switch (type.typtype) {
    case 'e':
      return { sql: await enumDefinition(reader, type) };
    case 'c':
      return { sql: await compositeDefinition(reader, type) };
    case 'd':
      return domainDefinition(reader, type);
    case 'r':
      return { sql: await rangeDefinition(reader, type) };
    case 'b':
      return undefined;
    // A shell type no base type has filled in yet (pg_dump's dumpUndefinedType).
    case 'p':
      return { sql: statement(`CREATE TYPE ${type.qname}`) };
    default:
      reader.gap('type', `${type.name} (typtype ${type.typtype})`);
      return undefined;
  }
}

async function enumDefinition(reader: CatalogReader, type: TypeRow): Promise<string> {
  const [row] = await reader.rows<{ labels: string | null }>(
    `SELECT pg_catalog.string_agg(pg_catalog.quote_literal(enumlabel), ', ' ORDER BY enumsortorder) AS labels
     FROM pg_catalog.pg_enum WHERE enumtypid = $1`,
    [type.oid],
  );
  return statement(`CREATE TYPE ${type.qname} AS ENUM (${row?.labels ?? ''})`);
}

async function compositeDefinition(reader: CatalogReader, type: TypeRow): Promise<string> {
  const attributes = await reader.rows<{ definition: string }>(
    `SELECT pg_catalog.format('%I %s', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod))
        || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
             THEN ' COLLATE ' || pg_catalog.format('%I.%I', cn.nspname, co.collname) ELSE '' END AS definition
     FROM pg_catalog.pg_attribute a
     JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
     LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
     LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
     WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attnum`,
    [type.typrelid],
  );
  return statement(
    `CREATE TYPE ${type.qname} AS (\n    ${attributes.map((a) => a.definition).join(',\n    ')}\n)`,
  );
}

async function domainDefinition(
  reader: CatalogReader,
  type: TypeRow,
): Promise<{ sql: string; notValid: LaterConstraint[] }> {
  const [domain] = await reader.rows<{
    base: string;
    collation: string | null;
    typdefault: string | null;
    typnotnull: boolean;
  }>(
    // typdefault is the default's text as typed, resolved against the search_path of its day; the
    // expression itself deparses with every name qualified (the dump runs with an empty search_path).
    `SELECT pg_catalog.format_type(t.typbasetype, t.typtypmod) AS base, t.typnotnull,
        COALESCE(pg_catalog.pg_get_expr(t.typdefaultbin, 'pg_catalog.pg_type'::pg_catalog.regclass), t.typdefault) AS typdefault,
        CASE WHEN t.typcollation <> 0 AND t.typcollation <> b.typcollation
          THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END AS collation
     FROM pg_catalog.pg_type t JOIN pg_catalog.pg_type b ON b.oid = t.typbasetype
     LEFT JOIN pg_catalog.pg_collation co ON co.oid = t.typcollation
     LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
     WHERE t.oid = $1`,
    [type.oid],
  );
  if (!domain) throw new Error(`domain ${type.name} vanished`);
  // PostgreSQL 17 keeps a domain's NOT NULL as a pg_constraint row (contype 'n') as well.
  const constraints = await reader.rows<{
    oid: number;
    definition: string;
    contype: string;
    convalidated: boolean;
    conname: string;
  }>(
    `SELECT pg_catalog.format('CONSTRAINT %I ', conname) || pg_catalog.pg_get_constraintdef(oid) AS definition,
        oid, contype, convalidated, conname
     FROM pg_catalog.pg_constraint WHERE contypid = $1 ORDER BY conname`,
    [type.oid],
  );
  let sql = `CREATE DOMAIN ${type.qname} AS ${domain.base}`;
  if (domain.collation) sql += ` COLLATE ${domain.collation}`;
  if (domain.typdefault !== null) sql += ` DEFAULT ${domain.typdefault}`;
  const notNullConstraint = constraints.some((c) => c.contype === 'n');
  if (domain.typnotnull && !notNullConstraint) sql += ' NOT NULL';
  const notValid: LaterConstraint[] = [];
  for (const constraint of constraints) {
    if (constraint.convalidated) sql += `\n    ${constraint.definition}`;
    else
      notValid.push({
        oid: constraint.oid,
        sql: statement(`ALTER DOMAIN ${type.qname} ADD ${constraint.definition}`),
      });
  }
  return { sql: statement(sql), notValid };
}

async function rangeDefinition(reader: CatalogReader, type: TypeRow): Promise<string> {
  const multirange = reader.version >= 140000 ? 'pg_catalog.format_type(r.rngmultitypid, NULL)' : 'NULL';
  const [range] = await reader.rows<{ options: string }>(
    `SELECT pg_catalog.concat_ws(E',\\n    ',
        'subtype = ' || pg_catalog.format_type(r.rngsubtype, NULL),
        CASE WHEN NOT oc.opcdefault THEN 'subtype_opclass = ' || pg_catalog.format('%I.%I', ocn.nspname, oc.opcname) END,
        CASE WHEN r.rngcollation <> 0 AND r.rngcollation <> st.typcollation
          THEN 'collation = ' || pg_catalog.format('%I.%I', cn.nspname, co.collname) END,
        CASE WHEN r.rngcanonical <> 0 THEN 'canonical = ' || r.rngcanonical::pg_catalog.regproc::text END,
        CASE WHEN r.rngsubdiff <> 0 THEN 'subtype_diff = ' || r.rngsubdiff::pg_catalog.regproc::text END,
        'multirange_type_name = ' || ${multirange}) AS options
     FROM pg_catalog.pg_range r
     JOIN pg_catalog.pg_type st ON st.oid = r.rngsubtype
     JOIN pg_catalog.pg_opclass oc ON oc.oid = r.rngsubopc
     JOIN pg_catalog.pg_namespace ocn ON ocn.oid = oc.opcnamespace
     LEFT JOIN pg_catalog.pg_collation co ON co.oid = r.rngcollation
     LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
     WHERE r.rngtypid = $1`,
    [type.oid],
  );
  return statement(`CREATE TYPE ${type.qname} AS RANGE (\n    ${range?.options ?? ''}\n)`);
}
