import { Readable } from 'node:stream';
import { type Artifact, NexusError } from '@nexus-backup/core';
import type pg from 'pg';
import { settingAssignment } from './catalog/database-settings.js';
import { connect, PROVIDER, redactUrl } from './connection.js';

export const GLOBALS_ARTIFACT = 'globals.sql';

export interface GlobalsOptions {
  db: string;
  /** Write each role's password hash (`pg_authid.rolpassword`, superuser only); off by default. */
  passwords: boolean;
}

/**
 * The cluster-wide objects a database's dump cannot hold, like `pg_dumpall --globals-only
 * --no-role-passwords`: roles (attributes, settings, memberships, comments) and tablespaces. Written
 * to run on any server with `psql -v ON_ERROR_STOP=1` or our restore: a role that exists already is
 * altered instead of created, an existing tablespace is left alone. Password hashes only on request.
 */
export async function dumpGlobals(options: GlobalsOptions): Promise<Artifact> {
  const client = await connect(options.db, 'nexus-backup globals');
  try {
    const sql = [
      '--',
      '-- PostgreSQL roles and tablespaces written by nexus-backup (restore with `psql -v ON_ERROR_STOP=1 -f FILE`)',
      options.passwords
        ? '-- Role passwords are included (--globals-passwords): keep this file as secret as the passwords.'
        : '-- Role passwords are NOT included: set them again (ALTER ROLE ... PASSWORD) after restoring.',
      '--',
      '',
      "SET client_encoding = 'UTF8';",
      'SET standard_conforming_strings = on;',
      '',
      ...(await roleStatements(client, options.passwords)),
      ...(await tablespaceStatements(client)),
      '--',
      '-- end of globals',
      '--',
      '',
    ].join('\n');
    const roles = await client.query<{ count: string }>(
      "SELECT count(*)::text AS count FROM pg_catalog.pg_roles WHERE rolname !~ '^pg_'",
    );
    return {
      name: GLOBALS_ARTIFACT,
      stream: Readable.from([Buffer.from(sql)]),
      expectedBytes: Buffer.byteLength(sql),
      meta: {
        format: 'plain-sql',
        globals: true,
        roles: Number(roles.rows[0]?.count ?? 0),
        passwords: options.passwords,
      },
    };
  } catch (error) {
    if (error instanceof NexusError) throw error;
    const denied = (error as { code?: string }).code === '42501';
    throw new NexusError(
      'IO',
      `reading the roles and tablespaces of ${redactUrl(options.db)} failed: ${(error as Error).message}`,
      {
        provider: PROVIDER,
        cause: error,
        ...(denied ? { hint: 'role passwords need a superuser; leave out --globals-passwords' } : {}),
      },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function roleStatements(client: pg.Client, passwords: boolean): Promise<string[]> {
  const version = Number(
    (await client.query<{ v: string }>("SELECT pg_catalog.current_setting('server_version_num') AS v"))
      .rows[0]?.v,
  );
  const catalog = passwords ? 'pg_catalog.pg_authid' : 'pg_catalog.pg_roles';
  const roles = await client.query<{ name: string; attributes: string; comment: string | null }>(`
    SELECT pg_catalog.quote_ident(r.rolname) AS name, pg_catalog.concat_ws(' ',
        CASE WHEN r.rolsuper THEN 'SUPERUSER' ELSE 'NOSUPERUSER' END,
        CASE WHEN r.rolinherit THEN 'INHERIT' ELSE 'NOINHERIT' END,
        CASE WHEN r.rolcreaterole THEN 'CREATEROLE' ELSE 'NOCREATEROLE' END,
        CASE WHEN r.rolcreatedb THEN 'CREATEDB' ELSE 'NOCREATEDB' END,
        CASE WHEN r.rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END,
        CASE WHEN r.rolreplication THEN 'REPLICATION' ELSE 'NOREPLICATION' END,
        CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' ELSE 'NOBYPASSRLS' END,
        CASE WHEN r.rolconnlimit <> -1 THEN 'CONNECTION LIMIT ' || r.rolconnlimit END,
        ${passwords ? "CASE WHEN r.rolpassword IS NOT NULL THEN 'PASSWORD ' || pg_catalog.quote_literal(r.rolpassword) END," : ''}
        CASE WHEN r.rolvaliduntil IS NOT NULL THEN 'VALID UNTIL ' || pg_catalog.quote_literal(r.rolvaliduntil::text) END
      ) AS attributes,
      pg_catalog.shobj_description(r.oid, 'pg_authid') AS comment
    FROM ${catalog} r WHERE r.rolname !~ '^pg_' ORDER BY r.rolname`);
  const lines: string[] = [];
  if (roles.rows.length > 0) lines.push('--', '-- Roles', '--', '');
  for (const role of roles.rows) {
    lines.push(
      `DO $$BEGIN CREATE ROLE ${role.name}; EXCEPTION WHEN duplicate_object THEN NULL; END$$;`,
      `ALTER ROLE ${role.name} WITH ${role.attributes};`,
    );
    if (role.comment !== null) lines.push(`COMMENT ON ROLE ${role.name} IS ${literal(role.comment)};`);
  }
  // 16+ records per membership whether it passes privileges on (INHERIT) and allows SET ROLE.
  const options =
    version >= 160000
      ? "CASE WHEN m.admin_option THEN ' WITH ADMIN TRUE, INHERIT ' ELSE ' WITH INHERIT ' END || CASE WHEN m.inherit_option THEN 'TRUE' ELSE 'FALSE' END || ', SET ' || CASE WHEN m.set_option THEN 'TRUE' ELSE 'FALSE' END"
      : "CASE WHEN m.admin_option THEN ' WITH ADMIN OPTION' ELSE '' END";
  const members = await client.query<{ sql: string }>(`
    SELECT 'GRANT ' || pg_catalog.quote_ident(g.rolname) || ' TO ' || pg_catalog.quote_ident(u.rolname) || ${options}
      || CASE WHEN m.grantor IS NOT NULL AND m.grantor <> 0 THEN ' GRANTED BY ' || pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(m.grantor)) ELSE '' END
      || ';' AS sql
    FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid JOIN pg_catalog.pg_roles u ON u.oid = m.member
    WHERE u.rolname !~ '^pg_' ORDER BY g.rolname, u.rolname`);
  if (members.rows.length > 0)
    lines.push('', '-- Role memberships', '', ...members.rows.map((row) => row.sql));
  const settings = await client.query<{ role: string; database: string | null; setting: string }>(`
    SELECT pg_catalog.quote_ident(r.rolname) AS role,
      CASE WHEN s.setdatabase <> 0 THEN pg_catalog.quote_ident(d.datname) END AS database, c.setting
    FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
      LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase,
      pg_catalog.unnest(s.setconfig) WITH ORDINALITY c(setting, n)
    WHERE r.rolname !~ '^pg_' AND (s.setdatabase = 0 OR d.oid IS NOT NULL)
    ORDER BY r.rolname, d.datname NULLS FIRST, c.n`);
  if (settings.rows.length > 0) lines.push('', '-- Role settings', '');
  for (const row of settings.rows) {
    const where = row.database === null ? '' : ` IN DATABASE ${row.database}`;
    lines.push(`ALTER ROLE ${row.role}${where} SET ${settingAssignment(row.setting)};`);
  }
  lines.push('');
  return lines;
}

/** Tablespaces other than the built-in ones; an existing one of the same name is left as it is. */
async function tablespaceStatements(client: pg.Client): Promise<string[]> {
  const rows = await client.query<{
    name: string;
    owner: string;
    location: string;
    options: string | null;
    comment: string | null;
  }>(`
    SELECT pg_catalog.quote_ident(t.spcname) AS name, pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(t.spcowner)) AS owner,
      pg_catalog.quote_literal(pg_catalog.pg_tablespace_location(t.oid)) AS location,
      pg_catalog.array_to_string(t.spcoptions, ', ') AS options,
      pg_catalog.shobj_description(t.oid, 'pg_tablespace') AS comment
    FROM pg_catalog.pg_tablespace t WHERE t.spcname !~ '^pg_' ORDER BY t.spcname`);
  const lines: string[] = [];
  if (rows.rows.length > 0) lines.push('--', '-- Tablespaces', '--', '');
  for (const row of rows.rows) {
    // CREATE TABLESPACE cannot run in a transaction block (so not in a DO block either): a server
    // that has one of the same name already fails on it, naming it. The directory must exist, empty.
    lines.push(`CREATE TABLESPACE ${row.name} OWNER ${row.owner} LOCATION ${row.location};`);
    if (row.options) lines.push(`ALTER TABLESPACE ${row.name} SET (${row.options});`);
    if (row.comment !== null) lines.push(`COMMENT ON TABLESPACE ${row.name} IS ${literal(row.comment)};`);
  }
  if (rows.rows.length > 0) lines.push('');
  return lines;
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
