import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';

const ROLES = `
  SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, r.rolreplication,
    r.rolbypassrls, r.rolconnlimit, r.rolvaliduntil::text, shobj_description(r.oid, 'pg_authid') AS comment,
    (SELECT string_agg(g.rolname || ':' || m.admin_option, ',' ORDER BY g.rolname) FROM pg_auth_members m
      JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid) AS member_of,
    (SELECT string_agg(array_to_string(s.setconfig, ','), ';') FROM pg_db_role_setting s
      WHERE s.setrole = r.oid AND s.setdatabase = 0) AS settings
  FROM pg_roles r WHERE r.rolname LIKE 'nexus\\_%' ORDER BY 1`;
const PASSWORD = `SELECT rolpassword FROM pg_authid WHERE rolname = 'nexus_app'`;

// --globals: roles and tablespaces as a second artifact, like pg_dumpall --globals-only, restored
// onto another server; password hashes only when asked for (and then only encrypted).
describe('postgres --globals through the nexus-backup binary', () => {
  let source: PostgresServer;
  let target: PostgresServer;
  const dirs: string[] = [];
  const dir = async (prefix: string) => {
    const path = await tempDir(prefix);
    dirs.push(path);
    return path;
  };
  const urlOf = (server: PostgresServer, database: string) =>
    `postgresql://${server.user}@${server.host}:${server.port}/${database}`;

  beforeAll(async () => {
    [source, target] = await Promise.all([startPostgres(), startPostgres()]);
    const parent = await dir('tablespace');
    await chmod(parent, 0o755);
    const location = join(parent, 'space');
    await mkdir(location);
    // As root the server runs as nobody, which must own the tablespace directory.
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());
      await chown(location, uid, gid);
    }
    await source.admin.query(`CREATE ROLE nexus_group NOLOGIN`);
    await source.admin.query(
      `CREATE ROLE nexus_app LOGIN CREATEDB PASSWORD 'app secret' CONNECTION LIMIT 5 VALID UNTIL '2099-01-01 00:00:00+00'`,
    );
    await source.admin.query('GRANT nexus_group TO nexus_app WITH ADMIN OPTION');
    await source.admin.query("ALTER ROLE nexus_app SET work_mem = '5MB'");
    await source.admin.query('ALTER ROLE nexus_app SET search_path = "$user", public');
    await source.admin.query(`COMMENT ON ROLE nexus_app IS 'the app''s role'`);
    await source.admin.query(`CREATE TABLESPACE nexus_space LOCATION '${location}'`);
    await source.admin.createDatabase('app');
    await source.admin.exec('app', 'CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)');
  });
  afterAll(async () => {
    await source?.admin.query('DROP TABLESPACE IF EXISTS nexus_space').catch(() => undefined);
    await Promise.all([source?.stop(), target?.stop()]);
    for (const path of dirs) await rm(path, { recursive: true, force: true });
  });

  it('stores globals.sql without password hashes and restores the roles onto another server', async () => {
    const repo = await dir('globals');
    const env = { PGPASSWORD: source.password };
    const backup = await runCli(
      [
        'backup',
        'postgres',
        '--db',
        urlOf(source, 'app'),
        '--globals',
        '--no-gzip',
        '--to',
        repo,
        '--pipeline',
        'db',
      ],
      { env },
    );
    expect(backup.code).toBe(0);
    const listed = JSON.parse((await runCli(['list', '--from', repo, '--json'])).stdout);
    expect(listed.backups[0].artifacts.map((artifact: { file: string }) => artifact.file)).toEqual([
      'globals.sql',
      'pre-data.sql',
      'data-0001.sql',
      'post-data.sql',
    ]);

    const file = join(await dir('globals-sql'), 'globals.sql');
    const toFile = await runCli(
      ['restore', 'db@latest', '--from', repo, '--globals-only', '--to-file', file],
      {
        env,
      },
    );
    expect(toFile.code).toBe(0);
    const sql = await readFile(file, 'utf8');
    expect(sql).toContain('Role passwords are NOT included');
    expect(sql).not.toMatch(/PASSWORD '|SCRAM-SHA-256/);
    expect(sql).toContain(`CREATE TABLESPACE nexus_space OWNER postgres LOCATION '`);

    // The target server cannot take the tablespace (same directory); restore the roles part.
    const rolesOnly = join(await dir('roles-sql'), 'roles.sql');
    await writeFile(rolesOnly, sql.slice(0, sql.indexOf('-- Tablespaces')));
    execFileSync('psql', [
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-d',
      target.url('postgres'),
      '-f',
      rolesOnly,
    ]);
    expect((await target.admin.query(ROLES)).rows).toEqual((await source.admin.query(ROLES)).rows);
    expect((await target.admin.query(PASSWORD)).rows).toEqual([{ rolpassword: null }]);
  });

  it('restore --globals-only runs globals.sql on a server, and --globals-passwords keeps the hashes but only encrypted', async () => {
    const repo = await dir('globals');
    const env = { PGPASSWORD: source.password, NEXUS_BACKUP_PASSPHRASE: 'globals test passphrase' };
    const args = ['backup', 'postgres', '--db', urlOf(source, 'app'), '--globals', '--globals-passwords'];
    const plaintext = await runCli([...args, '--to', repo, '--pipeline', 'db'], { env });
    expect(plaintext.code).toBe(64);
    expect(plaintext.stderr).toContain('must be encrypted');

    await source.admin.query('DROP TABLESPACE nexus_space');
    const encrypted = await runCli([...args, '--encrypt', '--to', repo, '--pipeline', 'db'], { env });
    expect(encrypted.code).toBe(0);
    await target.admin.query('DROP ROLE IF EXISTS nexus_app');
    const restored = await runCli(
      ['restore', 'db@latest', '--from', repo, '--globals-only', '--db', urlOf(target, 'postgres')],
      { env: { ...env, PGPASSWORD: target.password } },
    );
    expect(restored.code).toBe(0);
    // Every role came over with its hash, the bootstrap superuser's too: the target now takes the
    // source's password (psql logs in with it), which is then set back for the test's own client.
    execFileSync('psql', [
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-d',
      target.url('postgres').replace(target.password, source.password),
      '-c',
      `ALTER ROLE postgres PASSWORD '${target.password}'`,
    ]);
    expect((await target.admin.query(ROLES)).rows).toEqual((await source.admin.query(ROLES)).rows);
    expect((await target.admin.query(PASSWORD)).rows).toEqual((await source.admin.query(PASSWORD)).rows);
  });
});
