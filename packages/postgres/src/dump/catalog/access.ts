import { type DumpObject, dumpObject, identity } from '../model.js';
import { aggregateSignature } from './aggregate-signature.js';
import type { AttachedStatement } from './comments.js';
import { type CatalogReader, statement } from './query.js';

/** Every owned user object with its owner and ACL: relations, types, routines, schemas, large objects. */
const OWNED_OBJECTS = `
  SELECT 'pg_class' AS catalog, c.oid, c.relowner AS owner, c.relacl AS acl, 0 AS subid,
      CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END AS acltype
    FROM pg_catalog.pg_class c WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  UNION ALL SELECT 'pg_class', a.attrelid, NULL, a.attacl, a.attnum, 'c'
    -- System columns too: GRANT SELECT (ctid) is a column grant like any other.
    FROM pg_catalog.pg_attribute a WHERE a.attacl IS NOT NULL AND a.attnum <> 0 AND NOT a.attisdropped
  UNION ALL SELECT 'pg_type', t.oid, t.typowner, t.typacl, 0, 'T'
    FROM pg_catalog.pg_type t WHERE t.typtype IN ('e', 'd', 'r', 'p')
      OR (t.typtype = 'b' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.typarray = t.oid)) OR (t.typtype = 'c'
      AND (SELECT relkind FROM pg_catalog.pg_class WHERE oid = t.typrelid) = 'c')
  UNION ALL SELECT 'pg_proc', p.oid, p.proowner, p.proacl, 0, 'f' FROM pg_catalog.pg_proc p
  UNION ALL SELECT 'pg_namespace', n.oid, n.nspowner, n.nspacl, 0, 'n' FROM pg_catalog.pg_namespace n
  UNION ALL SELECT 'pg_collation', oid, collowner, NULL, 0, NULL FROM pg_catalog.pg_collation
  UNION ALL SELECT 'pg_ts_config', oid, cfgowner, NULL, 0, NULL FROM pg_catalog.pg_ts_config
  UNION ALL SELECT 'pg_ts_dict', oid, dictowner, NULL, 0, NULL FROM pg_catalog.pg_ts_dict
  UNION ALL SELECT 'pg_operator', oid, oprowner, NULL, 0, NULL FROM pg_catalog.pg_operator
  UNION ALL SELECT 'pg_opclass', oid, opcowner, NULL, 0, NULL FROM pg_catalog.pg_opclass
  UNION ALL SELECT 'pg_opfamily', oid, opfowner, NULL, 0, NULL FROM pg_catalog.pg_opfamily
  UNION ALL SELECT 'pg_conversion', oid, conowner, NULL, 0, NULL FROM pg_catalog.pg_conversion
  UNION ALL SELECT 'pg_statistic_ext', oid, stxowner, NULL, 0, NULL FROM pg_catalog.pg_statistic_ext
  UNION ALL SELECT 'pg_event_trigger', oid, evtowner, NULL, 0, NULL FROM pg_catalog.pg_event_trigger
  UNION ALL SELECT 'pg_foreign_data_wrapper', oid, fdwowner, fdwacl, 0, 'F' FROM pg_catalog.pg_foreign_data_wrapper
  UNION ALL SELECT 'pg_foreign_server', oid, srvowner, srvacl, 0, 'S' FROM pg_catalog.pg_foreign_server
  UNION ALL SELECT 'pg_language', oid, lanowner, lanacl, 0, 'l' FROM pg_catalog.pg_language WHERE lanispl
  UNION ALL SELECT 'pg_largeobject', l.oid, l.lomowner, l.lomacl, 0, 'L' FROM pg_catalog.pg_largeobject_metadata l
  UNION ALL SELECT 'pg_publication', p.oid, p.pubowner, NULL, 0, NULL FROM pg_catalog.pg_publication p
  UNION ALL SELECT 'pg_subscription', s.oid, s.subowner, NULL, 0, NULL FROM pg_catalog.pg_subscription s
    WHERE s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())`;

interface OwnedRow {
  catalog: string;
  oid: number;
  subid: number;
  type: string;
  identity: string;
  owner: string | null;
  /**
   * An object of the system's (pg_catalog, information_schema) or of an extension whose ACL changed
   * since initdb or CREATE EXTENSION: the object is not dumped, only its grants are the user's.
   */
  system: boolean;
  /** An identity column's sequence: it follows its table's owner, and PostgreSQL refuses to change it. */
  identity_sequence: boolean;
  /**
   * The public schema still has the owner a new database gives it: pg_database_owner (15+), or the
   * bootstrap superuser before 15. Any other owner (`ALTER SCHEMA public OWNER TO app`, or a 15+
   * database loaded from a pg_dump of an older one) is written with `owners`, like pg_dump.
   */
  default_public_owner: boolean;
  /** Whether the object has an ACL of its own: NULL means the defaults, `{}` that every privilege was revoked. */
  has_acl: boolean;
  /** Whether the owner holds exactly what ownership gives by default (acldefault); not when it revoked some from itself. */
  owner_default: boolean;
  /**
   * How many aclexplode rows at the start of the ACL are exactly the defaults (acldefault, in order),
   * 0 when it does not start with them. A GRANT on an object with default privileges writes the
   * defaults out and appends to them (`{=X/owner,owner=X/owner,app=X/owner}` for a function), so
   * granting only the rest keeps that order; revoking PUBLIC's default first would reorder it.
   */
  default_prefix: number;
  /** aclexplode rows in ACL order: grantee role (PUBLIC for 0), privilege, grant option, grantor. */
  grants:
    | {
        grantee: string;
        privilege: string;
        grantable: boolean;
        is_owner: boolean;
        grantor: string;
        by_owner: boolean;
      }[]
    | null;
}

/** `i` (pg_identify_object's row) is of the system's schemas. */
const SYSTEM_SCHEMA = `COALESCE(i.schema IN ('pg_catalog', 'information_schema'), false)`;

/** Object `o` belongs to an extension (a column: its table does). */
const MEMBER = `EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
  WHERE e.classid = ('pg_catalog.' || o.catalog)::pg_catalog.regclass AND e.objid = o.oid AND e.deptype = 'e')`;

/** The ACL initdb (or CREATE EXTENSION) gave object `o`, from pg_init_privs; NULL when none. */
const INITIAL_ACL = `(SELECT ip.initprivs FROM pg_catalog.pg_init_privs ip
  WHERE ip.classoid = ('pg_catalog.' || o.catalog)::pg_catalog.regclass AND ip.objoid = o.oid AND ip.objsubid = o.subid)`;

/** Object `o` is the public schema and its owner is the one a new database gives it (see OwnedRow). */
const DEFAULT_PUBLIC_OWNER = `(o.catalog = 'pg_namespace' AND i.identity = 'public'
  AND (pg_catalog.pg_get_userbyid(o.owner) = 'pg_database_owner' OR (o.owner = 10
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pg_database_owner'))))`;

/** The ACL object `o` has by default (its owner's privileges, and PUBLIC's for some kinds). */
const DEFAULT_ACL = `pg_catalog.acldefault(o.acltype::"char", o.owner)`;

/** The owner's own entries of an ACL, as sorted `privilege:grantable` text, to compare two ACLs by. */
function ownerEntries(acl: string): string {
  return `(SELECT pg_catalog.array_agg(x.privilege_type || ':' || x.is_grantable::text ORDER BY x.privilege_type)
    FROM pg_catalog.aclexplode(${acl}) x WHERE x.grantee = o.owner)`;
}

async function readOwned(reader: CatalogReader): Promise<OwnedRow[]> {
  return reader.rows<OwnedRow>(`
    SELECT o.catalog, o.oid, o.subid, i.type, i.identity, (o.oid < 16384 AND ${SYSTEM_SCHEMA}) OR ${MEMBER} AS system,
      pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(o.owner)) AS owner, o.acl IS NOT NULL AS has_acl,
      o.catalog = 'pg_class' AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
        JOIN pg_catalog.pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'
        WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = o.oid
          AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype = 'i') AS identity_sequence,
      ${DEFAULT_PUBLIC_OWNER} AS default_public_owner,
      o.acl IS NULL OR o.subid <> 0 OR o.acltype IS NULL OR ${ownerEntries('o.acl')}
        IS NOT DISTINCT FROM ${ownerEntries('pg_catalog.acldefault(o.acltype::"char", o.owner)')} AS owner_default,
      -- Only where a restored object starts from the defaults: not from an ACL initdb or CREATE EXTENSION gave it.
      CASE WHEN o.subid = 0 AND o.acltype IS NOT NULL AND o.acl[1:pg_catalog.cardinality(${DEFAULT_ACL})] = ${DEFAULT_ACL}
          AND (${INITIAL_ACL} IS NULL OR ${INITIAL_ACL} = ${DEFAULT_ACL})
        THEN (SELECT pg_catalog.count(*) FROM pg_catalog.aclexplode(${DEFAULT_ACL}))::integer ELSE 0 END AS default_prefix,
      (SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
          'grantee', CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END,
          'privilege', x.privilege_type, 'grantable', x.is_grantable,
          'is_owner', x.grantee = COALESCE(o.owner, (SELECT relowner FROM pg_catalog.pg_class WHERE oid = o.oid)),
          'grantor', pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantor)),
          'by_owner', x.grantor = COALESCE(o.owner, (SELECT relowner FROM pg_catalog.pg_class WHERE oid = o.oid)))
          ORDER BY x.n)
        -- ACL order: a grant made by a holder of the grant option comes after the grant that gave it.
        FROM pg_catalog.aclexplode(o.acl) WITH ORDINALITY AS x(grantor, grantee, privilege_type, is_grantable, n)) AS grants
    FROM (${OWNED_OBJECTS}) o,
      LATERAL pg_catalog.pg_identify_object(('pg_catalog.' || o.catalog)::pg_catalog.regclass, o.oid, o.subid) i
    -- A large object's oid is the user's choice (lo_create(2121)), so any oid is one of theirs. The
    -- public schema and the system's objects come with every database: only their ACLs, and only
    -- when changed since initdb (compared with pg_init_privs, as pg_dump does); the public schema's
    -- owner too when it is not the default one.
    WHERE ((o.oid >= 16384 OR o.catalog = 'pg_largeobject' OR (o.catalog = 'pg_namespace' AND i.identity = 'public'
          AND (o.acl IS DISTINCT FROM ${INITIAL_ACL} OR NOT ${DEFAULT_PUBLIC_OWNER})))
        AND NOT ${SYSTEM_SCHEMA} AND NOT ${MEMBER}
        AND NOT (o.catalog = 'pg_namespace' AND (i.identity ~ '^pg_' OR i.identity = 'information_schema')))
      -- Like pg_dump: information_schema is left as initdb made it (its grants are not in pg_init_privs).
      OR (((o.oid < 16384 AND i.schema = 'pg_catalog') OR ${MEMBER}) AND o.catalog IN ('pg_class', 'pg_proc', 'pg_type')
        AND o.acl IS DISTINCT FROM ${INITIAL_ACL})
    ORDER BY 1, 2, 3`);
}

const OWNER_KEYWORD: Record<string, string> = {
  table: 'TABLE',
  view: 'VIEW',
  'materialized view': 'MATERIALIZED VIEW',
  sequence: 'SEQUENCE',
  type: 'TYPE',
  domain: 'DOMAIN',
  'composite type': 'TYPE',
  function: 'FUNCTION',
  procedure: 'PROCEDURE',
  aggregate: 'AGGREGATE',
  schema: 'SCHEMA',
  collation: 'COLLATION',
  'text search configuration': 'TEXT SEARCH CONFIGURATION',
  'text search dictionary': 'TEXT SEARCH DICTIONARY',
  operator: 'OPERATOR',
  'operator class': 'OPERATOR CLASS',
  'operator family': 'OPERATOR FAMILY',
  conversion: 'CONVERSION',
  'statistics object': 'STATISTICS',
  'event trigger': 'EVENT TRIGGER',
  'foreign-data wrapper': 'FOREIGN DATA WRAPPER',
  server: 'SERVER',
  'foreign table': 'FOREIGN TABLE',
  language: 'LANGUAGE',
  'large object': 'LARGE OBJECT',
  publication: 'PUBLICATION',
  subscription: 'SUBSCRIPTION',
};

const GRANT_KEYWORD: Record<string, string> = {
  table: 'TABLE',
  view: 'TABLE',
  'materialized view': 'TABLE',
  sequence: 'SEQUENCE',
  type: 'TYPE',
  domain: 'DOMAIN',
  function: 'FUNCTION',
  procedure: 'PROCEDURE',
  aggregate: 'FUNCTION',
  schema: 'SCHEMA',
  'foreign-data wrapper': 'FOREIGN DATA WRAPPER',
  server: 'FOREIGN SERVER',
  'foreign table': 'TABLE',
  language: 'LANGUAGE',
  'large object': 'LARGE OBJECT',
};

/** ALTER ... OWNER TO for each object (option `owners`). */
export async function readOwners(reader: CatalogReader, owned?: OwnedRow[]): Promise<AttachedStatement[]> {
  const rows = owned ?? (await readOwned(reader));
  const statements: AttachedStatement[] = [];
  for (const row of rows) {
    const keyword = OWNER_KEYWORD[row.type];
    // The public schema is in every database already, with its own owner there: kept unless changed.
    if (row.subid !== 0 || !row.owner || !keyword || row.default_public_owner || row.system) continue;
    if (row.identity_sequence) continue;
    statements.push({
      owner: identity(row.catalog, row.oid),
      sql: statement(
        `ALTER ${keyword} ${row.type === 'aggregate' ? aggregateSignature(row.identity) : row.identity} OWNER TO ${row.owner}`,
      ),
    });
  }
  return statements;
}

/**
 * GRANTs that reproduce each non-default ACL (option `privileges`): revoke what PUBLIC gets by default,
 * then grant every entry except the owner's own, which ownership implies, unless the owner revoked
 * some of its own privileges: then it loses them all and is granted back what it kept, like pg_dump.
 * Grants are made in ACL order, each by its own grantor.
 */
export async function readPrivileges(
  reader: CatalogReader,
  owned?: OwnedRow[],
  { owners = false }: { owners?: boolean } = {},
): Promise<AttachedStatement[]> {
  const rows = owned ?? (await readOwned(reader));
  // The grants run after the owner statements: the object's owner then is its own (owners) or the
  // restoring user.
  const restoredOwner = (row: OwnedRow) => (owners ? row.owner : 'CURRENT_USER');
  return rows.flatMap((row) => {
    const sql = row.system ? undefined : privilegeStatements(row, restoredOwner(row));
    return sql === undefined ? [] : [{ owner: identity(row.catalog, row.oid), sql }];
  });
}

/**
 * The changed privileges of system objects (`REVOKE EXECUTE ON FUNCTION pg_catalog.pg_sleep(...)
 * FROM PUBLIC`) and of extension members (`GRANT EXECUTE ON FUNCTION pg_stat_statements_reset() TO
 * ...`), each its own object at the end, as the objects themselves are not dumped.
 */
export function systemPrivileges(owned: OwnedRow[]): DumpObject[] {
  return owned.flatMap((row) => {
    const sql = row.system ? privilegeStatements(row) : undefined;
    if (sql === undefined) return [];
    const key = `system-privileges:${row.catalog}:${row.oid}:${row.subid}`;
    return [dumpObject({ key, kind: 'system-privileges', section: 'post-data', name: row.identity, sql })];
  });
}

/** `restoredOwner`: who owns the object when its grants run; unknown for the system's objects. */
function privilegeStatements(row: OwnedRow, restoredOwner?: string | null): string | undefined {
  if (!row.has_acl) return undefined;
  const columnMatch = row.subid !== 0 ? /^(.*)\.("(?:[^"]|"")+"|[^.]+)$/.exec(row.identity) : null;
  const type = row.subid !== 0 ? 'table' : row.type;
  const keyword = GRANT_KEYWORD[type];
  if (!keyword) return undefined;
  const target = columnMatch ? `TABLE ${columnMatch[1]}` : `${keyword} ${row.identity}`;
  const columns = columnMatch ? ` (${columnMatch[2]})` : '';
  // The defaults, then grants: only the grants. Otherwise start from nothing and grant every entry.
  const keepsDefaults = row.default_prefix > 0;
  let sql = row.subid === 0 && !keepsDefaults ? statement(`REVOKE ALL ON ${target} FROM PUBLIC`) : '';
  if (!row.owner_default && !keepsDefaults && row.owner)
    sql += statement(`REVOKE ALL ON ${target} FROM ${row.owner}`);
  const added = (row.grants ?? []).slice(row.default_prefix);
  // Exactly the defaults, written out (the airlines demo's GRANT ALL ON TABLE t TO its owner): a grant
  // of what the owner has writes them out again; left alone, the restored ACL would stay NULL.
  // Without owners the restoring user owns the object and stands in for its owner, as in every ACL.
  if (keepsDefaults && added.length === 0)
    return restoredOwner ? statement(`GRANT ALL ON ${target} TO ${restoredOwner}`) : undefined;
  for (const grant of added) {
    if (grant.is_owner && row.subid === 0 && row.owner_default) continue;
    const option = grant.grantable ? ' WITH GRANT OPTION' : '';
    const grantSql = statement(
      `GRANT ${grant.privilege}${columns} ON ${target} TO ${grant.grantee}${option}`,
    );
    // A grant made by a holder of the grant option is made as that role, so it stays the grantor
    // (revoking its option later cascades to it), like pg_dump; this needs a superuser restore.
    sql += grant.by_owner
      ? grantSql
      : statement(`SET SESSION AUTHORIZATION ${grant.grantor}`) +
        grantSql +
        statement('RESET SESSION AUTHORIZATION');
  }
  return sql;
}

export { readOwned };
