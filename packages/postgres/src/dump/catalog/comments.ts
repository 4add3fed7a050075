import { identity } from '../model.js';
import { aggregateSignature } from './aggregate-signature.js';
import { type CatalogReader, statement } from './query.js';

export interface AttachedStatement {
  /** Catalog identity of the object the statement belongs to (a column's belongs to its relation). */
  owner: string;
  sql: string;
}

/**
 * COMMENT ON statements for every described user object, built from pg_identify_object so one query
 * covers every kind. Comments on extension members are left out, and the public schema's unless changed.
 */
export async function readComments(reader: CatalogReader): Promise<AttachedStatement[]> {
  const rows = await reader.rows<{
    catalog: string;
    objoid: number;
    type: string;
    identity: string;
    comment: string;
  }>(`
    SELECT d.classoid::pg_catalog.regclass::text AS catalog, d.objoid, o.type, o.identity,
      pg_catalog.quote_literal(d.description) AS comment
    FROM pg_catalog.pg_description d, LATERAL pg_catalog.pg_identify_object(d.classoid, d.objoid, d.objsubid) o
    -- A large object's oid is the user's choice (lo_create(2121)), so any oid is one of theirs.
    -- The public schema's comment only when changed from initdb's, like pg_dump.
    WHERE (d.objoid >= 16384 OR d.classoid = 'pg_catalog.pg_largeobject'::pg_catalog.regclass
        OR (d.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND o.identity = 'public'
          AND d.description <> 'standard public schema'))
      AND o.schema IS DISTINCT FROM 'pg_catalog' AND o.schema IS DISTINCT FROM 'information_schema'
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = d.classoid AND e.objid = d.objoid AND e.deptype = 'e')
      AND d.classoid <> 'pg_catalog.pg_extension'::pg_catalog.regclass
    ORDER BY 1, 2, d.objsubid`);
  const statements: AttachedStatement[] = [];
  for (const row of rows) {
    const target = commentTarget(row.type, row.identity);
    if (target === undefined) {
      reader.gap('comment', `on ${row.type} ${row.identity}`);
      continue;
    }
    statements.push({
      owner: identity(row.catalog, row.objoid),
      sql: statement(`COMMENT ON ${target} IS ${row.comment}`),
    });
  }
  return statements;
}

/** Turns pg_identify_object's (type, identity) into the object part of a COMMENT ON statement. */
function commentTarget(type: string, objectIdentity: string): string | undefined {
  switch (type) {
    case 'table column':
    case 'view column':
    case 'materialized view column':
    case 'foreign table column':
    case 'composite type column':
      return `COLUMN ${objectIdentity}`;
    case 'table constraint':
    case 'policy':
    case 'trigger':
    case 'rule': {
      const [name, on] = splitOn(objectIdentity);
      const keyword = type === 'table constraint' ? 'CONSTRAINT' : type.toUpperCase();
      return on === undefined ? undefined : `${keyword} ${name} ON ${on}`;
    }
    case 'domain constraint': {
      const [name, on] = splitOn(objectIdentity);
      return on === undefined ? undefined : `CONSTRAINT ${name} ON DOMAIN ${on}`;
    }
    case 'table':
    case 'view':
    case 'materialized view':
    case 'index':
    case 'sequence':
    case 'schema':
    case 'type':
    case 'domain':
    case 'function':
    case 'procedure':
    case 'collation':
    case 'text search configuration':
    case 'text search dictionary':
    case 'text search parser':
    case 'text search template':
    case 'operator':
    case 'operator class':
    case 'operator family':
    case 'conversion':
    case 'access method':
    case 'event trigger':
    case 'server':
    case 'foreign table':
    case 'large object':
    case 'publication':
    case 'subscription':
      return `${type.toUpperCase()} ${objectIdentity}`;
    case 'aggregate':
      return `AGGREGATE ${aggregateSignature(objectIdentity)}`;
    case 'cast':
      return `CAST ${objectIdentity}`;
    case 'language':
      return `LANGUAGE ${objectIdentity}`;
    case 'transform': {
      const parts = /^for (.+?) (?:on )?language (.+)$/.exec(objectIdentity);
      return parts ? `TRANSFORM FOR ${parts[1]} LANGUAGE ${parts[2]}` : undefined;
    }
    case 'statistics object':
      return `STATISTICS ${objectIdentity}`;
    case 'foreign-data wrapper':
      return `FOREIGN DATA WRAPPER ${objectIdentity}`;
    default:
      return undefined;
  }
}

/** `name on schema.table` -> [`name`, `schema.table`], minding quoted identifiers. */
export function splitOn(objectIdentity: string): [string, string | undefined] {
  let quoted = false;
  for (let index = 0; index < objectIdentity.length; index++) {
    const char = objectIdentity[index];
    if (char === '"') quoted = !quoted;
    else if (!quoted && objectIdentity.startsWith(' on ', index)) {
      return [objectIdentity.slice(0, index), objectIdentity.slice(index + 4)];
    }
  }
  return [objectIdentity, undefined];
}
