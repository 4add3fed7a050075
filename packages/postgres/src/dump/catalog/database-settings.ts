import { type DumpObject, dumpObject, identity } from '../model.js';
import type { CatalogReader } from './query.js';

/** Stands for the database's name in a statement until format() puts it in; no setting can hold NUL. */
const HERE = '\u0000';

/** Settings whose stored value is already an SQL list (`"$user", public`), written unquoted. */
const LIST_SETTINGS = new Set([
  'search_path',
  'temp_tablespaces',
  'session_preload_libraries',
  'local_preload_libraries',
  'shared_preload_libraries',
]);

/**
 * `ALTER DATABASE ... SET`, `ALTER ROLE ... IN DATABASE ... SET` and `COMMENT ON DATABASE` (option
 * `databaseSettings`, like what pg_dump --create writes), with the owner (`owners`) and the database's
 * GRANT/REVOKE (`privileges`). They name the database the script runs in,
 * not the dumped one, so they land on the restored copy whatever it is called: each is run by a DO
 * block through format('%I', current_database()). Written last, so a setting such as
 * default_transaction_read_only cannot get in the way of the restore itself.
 */
export async function readDatabaseSettings(
  reader: CatalogReader,
  { owners = false, privileges = false }: { owners?: boolean; privileges?: boolean } = {},
): Promise<DumpObject[]> {
  const [database] = await reader.rows<{
    oid: number;
    comment: string | null;
    owner: string;
    revokes: { grantee: string; privilege: string }[] | null;
    grants: { grantee: string; privilege: string; grantable: boolean }[] | null;
  }>(`
    WITH acl AS (
      SELECT d.oid, d.datdba, d.datacl, pg_catalog.acldefault('d', d.datdba) AS builtin
      FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
    SELECT a.oid, pg_catalog.shobj_description(a.oid, 'pg_database') AS comment,
      pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.datdba)) AS owner,
      -- A NULL datacl means the built-in defaults: nothing to revoke or grant.
      (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('grantee', ${grantee('x')}, 'privilege', x.privilege_type)
          ORDER BY x.grantee, x.privilege_type)
        FROM pg_catalog.aclexplode(a.builtin) x
        WHERE a.datacl IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(a.datacl) y
          WHERE y.grantee = x.grantee AND y.privilege_type = x.privilege_type)) AS revokes,
      (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('grantee', ${grantee('y')}, 'privilege', y.privilege_type,
          'grantable', y.is_grantable) ORDER BY y.grantee, y.privilege_type)
        FROM pg_catalog.aclexplode(a.datacl) y
        WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(a.builtin) x
          WHERE x.grantee = y.grantee AND x.privilege_type = y.privilege_type AND x.is_grantable = y.is_grantable)) AS grants
    FROM acl a`);
  if (!database) return [];
  const settings = await reader.rows<{ role: string | null; setting: string }>(
    `SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(s.setrole)) END AS role,
       c.setting
     FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) WITH ORDINALITY c(setting, n)
     WHERE s.setdatabase = $1
     ORDER BY s.setrole, c.n`,
    [database.oid],
  );
  const templates: string[] = [];
  for (const { role, setting } of settings) {
    const target = role === null ? `DATABASE ${HERE}` : `ROLE ${role} IN DATABASE ${HERE}`;
    templates.push(`ALTER ${target} SET ${settingAssignment(setting)}`);
  }
  if (database.comment !== null)
    templates.push(`COMMENT ON DATABASE ${HERE} IS ${literal(database.comment)}`);
  if (owners) templates.push(`ALTER DATABASE ${HERE} OWNER TO ${database.owner}`);
  if (privileges) {
    for (const revoke of database.revokes ?? [])
      templates.push(`REVOKE ${revoke.privilege} ON DATABASE ${HERE} FROM ${revoke.grantee}`);
    for (const grant of database.grants ?? []) {
      const option = grant.grantable ? ' WITH GRANT OPTION' : '';
      templates.push(`GRANT ${grant.privilege} ON DATABASE ${HERE} TO ${grant.grantee}${option}`);
    }
  }
  if (templates.length === 0) return [];
  const body = templates
    .map(
      (template) =>
        `  EXECUTE pg_catalog.format(${literal(template.replaceAll('%', '%%').replaceAll(HERE, '%I'))}, pg_catalog.current_database());\n`,
    )
    .join('');
  let tag = '$nexus_database$';
  for (let n = 1; body.includes(tag); n++) tag = `$nexus_database_${n}$`;
  return [
    dumpObject({
      key: identity('pg_database', database.oid),
      kind: 'database-settings',
      section: 'post-data',
      name: 'current database',
      sql: `DO ${tag}\nBEGIN\n${body}END\n${tag};\n`,
      identities: [identity('pg_database', database.oid)],
    }),
  ];
}

function grantee(alias: string): string {
  return `CASE WHEN ${alias}.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(${alias}.grantee)) END`;
}

/** `name=value` as stored in pg_db_role_setting, as the `name TO value` of an `ALTER ... SET`. */
export function settingAssignment(setting: string): string {
  const at = setting.indexOf('=');
  const name = setting.slice(0, at);
  const value = setting.slice(at + 1);
  return `${quoteName(name)} TO ${LIST_SETTINGS.has(name) ? value : literal(value)}`;
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** A setting name: plain or dotted (a custom `app.name`), each part quoted when it needs to be. */
function quoteName(name: string): string {
  return name
    .split('.')
    .map((part) => (/^[a-z_][a-z0-9_]*$/.test(part) ? part : `"${part.replaceAll('"', '""')}"`))
    .join('.');
}
