import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir as newTempDir, REPO_ROOT, runCli } from './helpers/cli.js';

// The forms of issue 4 through the real binary: --db on the command line carries no password
// (PGPASSWORD does, as an operator's environment would), DATABASE_URL works too.
describe('postgres through the nexus-backup binary', () => {
  let server: PostgresServer;
  let env: NodeJS.ProcessEnv;
  let sourceUrl: string;
  const urlOf = (database: string) => `postgresql://${server.user}@${server.host}:${server.port}/${database}`;

  beforeAll(async () => {
    server = await startPostgres();
    env = { PGPASSWORD: server.password, NEXUS_BACKUP_PASSPHRASE: 'postgres cli test' };
    await server.admin.createDatabase('app');
    const sample = join(REPO_ROOT, 'examples/sample-service');
    await server.admin.exec('app', await readFile(join(sample, 'schema.sql'), 'utf8'));
    await server.admin.exec('app', await readFile(join(sample, 'seed.sql'), 'utf8'));
    await server.admin.exec('app', 'SELECT seed_sample_service(300, 4)');
    sourceUrl = server.url('app');
  });
  const temporary: string[] = [];
  /** A temp folder removed after the tests. */
  const tempDir = async (prefix: string) => {
    const dir = await newTempDir(prefix);
    temporary.push(dir);
    return dir;
  };

  afterAll(async () => {
    for (const dir of temporary) await rm(dir, { recursive: true, force: true });
    await server?.stop();
  });

  async function expectSameDatabase(restored: string): Promise<void> {
    expect(await describeDatabase(restored)).toEqual(await describeDatabase(sourceUrl));
    expect(await tableChecksums(restored)).toEqual(await tableChecksums(sourceUrl));
  }

  it('backs up with gzip and aes, restores into an empty database, a new database and a file', async () => {
    const repo = await tempDir('pg');
    const backup = await runCli(
      ['backup', 'postgres', '--db', urlOf('app'), '--gzip', '--encrypt', '--to', repo, '--pipeline', 'db'],
      { env },
    );
    expect(backup.stderr).toContain('backup db@');
    expect(backup.code).toBe(0);
    const listed = JSON.parse((await runCli(['list', 'db', '--from', repo, '--json'])).stdout);
    expect(listed.backups[0].artifacts[0].file).toBe('pre-data.sql.gz.aes');

    await server.admin.createDatabase('app_restored');
    const intoEmpty = await runCli(['restore', 'db@latest', '--from', repo, '--db', urlOf('app_restored')], {
      env,
    });
    expect(intoEmpty.code).toBe(0);
    await expectSameDatabase(server.url('app_restored'));

    const intoNew = await runCli(
      ['restore', 'db@latest', '--from', repo, '--create-db', 'app_restored_2', '--db', urlOf('app')],
      { env },
    );
    expect(intoNew.code).toBe(0);
    await expectSameDatabase(server.url('app_restored_2'));

    const again = await runCli(
      ['restore', 'db@latest', '--from', repo, '--create-db', 'app_restored_2', '--db', urlOf('app')],
      { env },
    );
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('app_restored_2');

    const file = join(await tempDir('sql'), 'app.sql');
    const toFile = await runCli(['restore', 'db@latest', '--from', repo, '--to-file', file], { env });
    expect(toFile.code).toBe(0);
    expect(await readFile(file, 'utf8')).toContain('COPY public.api_requests');

    // Mistyped targets: the error names the folder or the flags, never a temp name or a config key alone.
    const missing = join(dirname(file), 'no', 'such', 'app.sql');
    const noFolder = await runCli(['restore', 'db@latest', '--from', repo, '--to-file', missing], { env });
    expect(noFolder.code).toBe(2);
    expect(noFolder.stderr).toContain(
      `cannot write ${missing}: the folder ${dirname(missing)} does not exist`,
    );
    expect(noFolder.stderr).not.toContain('.partial');
    const both = await runCli(
      ['restore', 'db@latest', '--from', repo, '--to-file', join(dirname(file), 'b.sql'), '--create-db', 'x'],
      { env },
    );
    expect(both.code).toBe(64);
    expect(both.stderr).toContain('--to-file (toFile) cannot be combined with --create-db (createDb)');
  });

  it('DATABASE_URL works instead of --db, and copy --create-db streams into <db>_backup_<timestamp>', async () => {
    const repo = await tempDir('pg');
    const viaEnv = await runCli(['backup', 'postgres', '--no-gzip', '--to', repo, '--pipeline', 'db'], {
      env: { ...env, DATABASE_URL: sourceUrl },
    });
    expect(viaEnv.code).toBe(0);

    const copy = await runCli(['copy', 'postgres', '--db', urlOf('app'), '--create-db'], { env });
    expect(copy.code).toBe(0);
    const { rows } = await server.admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'app\\_backup\\_%'",
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.datname).toMatch(/^app_backup_\d{8}_\d{6}$/);
    await expectSameDatabase(server.url(rows[0]?.datname as string));
  });

  it('a password in a URL on the command line is refused before anything connects', async () => {
    const repo = await tempDir('pg');
    const refused = await runCli(['backup', 'postgres', '--db', sourceUrl, '--to', repo]);
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain('PGPASSWORD');
    expect(refused.stderr).not.toContain(server.password);
  });
});
