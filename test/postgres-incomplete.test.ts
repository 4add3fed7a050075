import { rm } from 'node:fs/promises';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';

// A subscription is something the dump cannot write when the dumping role is no superuser (only one
// may read its connection string): the backup must fail naming it, or, with --allow-incomplete, warn
// (exit 1) and record it.
describe('a database with an object the dump cannot write, through the nexus-backup binary', () => {
  let server: PostgresServer;
  let env: NodeJS.ProcessEnv;
  const dirs: string[] = [];
  const urlOf = (database: string) => `postgresql://${server.user}@${server.host}:${server.port}/${database}`;
  // The dumping role: no superuser, but it may read the table and create databases (for copy).
  const backupUrlOf = (database: string) =>
    `postgresql://nexus_backup@${server.host}:${server.port}/${database}`;
  const dir = async (prefix: string) => {
    const path = await tempDir(prefix);
    dirs.push(path);
    return path;
  };
  const named = 'subscription nexus_sub (only a superuser may read its connection string)';
  const gap = {
    artifact: 'pre-data.sql',
    kind: 'subscription',
    name: 'nexus_sub (only a superuser may read its connection string)',
  };

  beforeAll(async () => {
    server = await startPostgres();
    env = { PGPASSWORD: server.password };
    await server.admin.createDatabase('gappy');
    await server.admin.exec(
      'gappy',
      `CREATE TABLE kept (id int PRIMARY KEY, note text);
       INSERT INTO kept SELECT i, 'row ' || i FROM generate_series(1, 25) i;
       CREATE SUBSCRIPTION nexus_sub CONNECTION 'host=127.0.0.1 port=1 dbname=nowhere'
         PUBLICATION nowhere WITH (connect = false);
       CREATE ROLE nexus_backup LOGIN CREATEDB PASSWORD '${server.password}';
       GRANT SELECT ON kept TO nexus_backup;`,
    );
  });
  afterAll(async () => {
    await server?.stop();
    for (const path of dirs) await rm(path, { recursive: true, force: true });
  });

  it('backup fails with exit 2 naming the object, and leaves nothing in the repository', async () => {
    const repo = await dir('gap');
    const backup = await runCli(
      ['backup', 'postgres', '--db', backupUrlOf('gappy'), '--to', repo, '--pipeline', 'db'],
      {
        env,
      },
    );
    expect(backup.code).toBe(2);
    expect(backup.stderr).toContain(named);
    expect(backup.stderr).toContain('--allow-incomplete');
    const listed = JSON.parse((await runCli(['list', '--from', repo, '--json'])).stdout);
    expect(listed.backups).toEqual([]);
    expect(listed.incomplete).toEqual([]);
  });

  it('--allow-incomplete backs up the rest with exit 1; list, verify and restore name what is missing', async () => {
    const repo = await dir('gap');
    const backup = await runCli(
      [
        'backup',
        'postgres',
        '--db',
        backupUrlOf('gappy'),
        '--to',
        repo,
        '--pipeline',
        'db',
        '--allow-incomplete',
      ],
      { env },
    );
    expect(backup.code).toBe(1);
    expect(backup.stderr).toContain(named);

    const listed = JSON.parse((await runCli(['list', '--from', repo, '--json'])).stdout);
    expect(listed.backups).toHaveLength(1);
    expect(listed.backups[0].leftOut).toEqual([gap]);
    const listText = await runCli(['list', '--from', repo]);
    expect(listText.code).toBe(0);
    expect(listText.stderr).toMatch(
      /db@\S+ is incomplete, not backed up: subscription nexus_sub \(only a superuser/,
    );

    const verify = await runCli(['verify', '--from', repo, '--json']);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout).backups[0].leftOut).toEqual([gap]);

    await server.admin.createDatabase('gappy_restored');
    const restore = await runCli(['restore', 'db@latest', '--from', repo, '--db', urlOf('gappy_restored')], {
      env,
    });
    expect(restore.code).toBe(1);
    expect(restore.stderr).toContain(named);
    expect(await tableChecksums(server.url('gappy_restored'))).toEqual(
      await tableChecksums(server.url('gappy')),
    );
  });

  it('copy postgres follows the same rule: exit 2 naming the object, or exit 1 with --allow-incomplete', async () => {
    const refused = await runCli(
      ['copy', 'postgres', '--db', backupUrlOf('gappy'), '--create-db', 'gappy_copy'],
      {
        env,
      },
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(named);
    const none = await server.admin.query("SELECT 1 FROM pg_database WHERE datname = 'gappy_copy'");
    expect(none.rows).toEqual([]);

    const copied = await runCli(
      ['copy', 'postgres', '--db', backupUrlOf('gappy'), '--create-db', 'gappy_copy', '--allow-incomplete'],
      { env },
    );
    expect(copied.code).toBe(1);
    expect(copied.stderr).toContain(named);
    expect(await tableChecksums(server.url('gappy_copy'))).toEqual(await tableChecksums(server.url('gappy')));
  });
});
