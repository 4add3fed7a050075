import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, statement } from './query.js';

const OBJECTS: Record<string, string> = {
  r: 'TABLES',
  S: 'SEQUENCES',
  f: 'FUNCTIONS',
  T: 'TYPES',
  n: 'SCHEMAS',
};

/**
 * `ALTER DEFAULT PRIVILEGES` for each pg_default_acl row (with the `privileges` option, like pg_dump
 * without --no-privileges). A schema's entry only adds grants; a role-wide entry replaces the built-in
 * defaults, so what it lacks of them is revoked and what it adds is granted (pg_dump's way).
 */
export async function readDefaultPrivileges(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{
    oid: number;
    role: string;
    schema: string | null;
    objtype: string;
    revokes: { grantee: string; privilege: string }[] | null;
    grants: { grantee: string; privilege: string; grantable: boolean }[] | null;
  }>(`
    WITH acl AS (
      -- aclexplode refuses an empty array (no dimensions): an empty ACL is NULL here, which it reads as none.
      SELECT d.oid, d.defaclrole, d.defaclnamespace, d.defaclobjtype,
        CASE WHEN pg_catalog.cardinality(d.defaclacl) > 0 THEN d.defaclacl END AS defaclacl,
        CASE WHEN d.defaclnamespace = 0
          THEN pg_catalog.acldefault(CASE WHEN d.defaclobjtype = 'S' THEN 's'::"char" ELSE d.defaclobjtype END, d.defaclrole)
          END AS builtin
      FROM pg_catalog.pg_default_acl d)
    SELECT a.oid, pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.defaclrole)) AS role,
      CASE WHEN a.defaclnamespace = 0 THEN NULL ELSE pg_catalog.quote_ident(n.nspname) END AS schema,
      a.defaclobjtype AS objtype,
      (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('grantee', ${grantee('x')}, 'privilege', x.privilege_type)
          ORDER BY x.grantee, x.privilege_type)
        FROM pg_catalog.aclexplode(a.builtin) x
        WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(a.defaclacl) y
          WHERE y.grantee = x.grantee AND y.privilege_type = x.privilege_type)) AS revokes,
      (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('grantee', ${grantee('y')}, 'privilege', y.privilege_type,
          'grantable', y.is_grantable) ORDER BY y.grantee, y.privilege_type)
        FROM pg_catalog.aclexplode(a.defaclacl) y
        WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(a.builtin) x
          WHERE x.grantee = y.grantee AND x.privilege_type = y.privilege_type AND x.is_grantable = y.is_grantable)) AS grants
    FROM acl a LEFT JOIN pg_catalog.pg_namespace n ON n.oid = a.defaclnamespace
    ORDER BY 2, 3 NULLS FIRST, 4`);
  return rows.flatMap((row) => {
    const objects = OBJECTS[row.objtype];
    if (!objects) {
      reader.gap('default privileges', `for role ${row.role} on objects of type ${row.objtype}`);
      return [];
    }
    const prefix = `ALTER DEFAULT PRIVILEGES FOR ROLE ${row.role}${row.schema ? ` IN SCHEMA ${row.schema}` : ''}`;
    let sql = '';
    for (const revoke of row.revokes ?? [])
      sql += statement(`${prefix} REVOKE ${revoke.privilege} ON ${objects} FROM ${revoke.grantee}`);
    for (const grant of row.grants ?? []) {
      const option = grant.grantable ? ' WITH GRANT OPTION' : '';
      sql += statement(`${prefix} GRANT ${grant.privilege} ON ${objects} TO ${grant.grantee}${option}`);
    }
    return [
      dumpObject({
        key: identity('pg_default_acl', row.oid),
        kind: 'default-acl',
        section: 'post-data',
        name: `${row.role}${row.schema ? ` ${row.schema}` : ''} ${objects}`,
        sql,
        identities: [identity('pg_default_acl', row.oid)],
      }),
    ];
  });
}

function grantee(alias: string): string {
  return `CASE WHEN ${alias}.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(${alias}.grantee)) END`;
}
