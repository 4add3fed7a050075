import { readFile, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, SAMPLE_SERVICE, tempDir } from './helpers/cli.js';

// Issue 16: the parallel restore of a per-table backup through the binary, and what --jobs refuses.
describe('restore --jobs through the nexus-backup binary', () => {
  let server: PostgresServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const urlOf = (database: string) => `postgresql://${server.user}@${server.host}:${server.port}/${database}`;

  beforeAll(async () => {
    server = await startPostgres();
    dir = await tempDir('pg-jobs');
    env = { PGPASSWORD: server.password };
    await server.admin.createDatabase('app');
    await server.admin.exec('app', await readFile(join(SAMPLE_SERVICE, 'schema.sql'), 'utf8'));
    await server.admin.exec('app', await readFile(join(SAMPLE_SERVICE, 'seed.sql'), 'utf8'));
    await server.admin.exec('app', 'SELECT seed_sample_service(200, 4)');
    const backup = await runCli(
      ['backup', 'postgres', '--db', urlOf('app'), '--to', join(dir, 'repo'), '--pipeline', 'db'],
      { env },
    );
    expect(backup.code).toBe(0);
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const restoreArgs = (...extra: string[]) => ['restore', 'db@latest', '--from', join(dir, 'repo'), ...extra];

  it('restore db@latest --create-db NAME --jobs 4 loads the per-table backup on 4 connections and gives the same database as the source', async () => {
    const restored = await runCli(
      restoreArgs('--create-db', 'app_jobs', '--db', urlOf('app'), '--jobs', '4', '--json'),
      { env },
    );
    expect(restored.stderr).not.toMatch(/error/i);
    expect(restored.code).toBe(0);
    expect(JSON.parse(restored.stdout).details).toMatchObject({ createDb: 'app_jobs', jobs: 4 });
    expect(await describeDatabase(server.url('app_jobs'))).toEqual(await describeDatabase(server.url('app')));
    expect(await tableChecksums(server.url('app_jobs'))).toEqual(await tableChecksums(server.url('app')));
  });

  it('restore --create-db without --jobs restores in parallel on the cores (at most 4); --single-transaction on one connection', async () => {
    const parallel = await runCli(restoreArgs('--create-db', 'app_default', '--db', urlOf('app'), '--json'), {
      env,
    });
    expect(parallel.code).toBe(0);
    expect(JSON.parse(parallel.stdout).details.jobs).toBe(Math.min(4, availableParallelism()));
    const single = await runCli(
      restoreArgs('--create-db', 'app_single', '--db', urlOf('app'), '--single-transaction', '--json'),
      { env },
    );
    expect(single.code).toBe(0);
    expect(JSON.parse(single.stdout).details.jobs).toBeUndefined();
    for (const name of ['app_default', 'app_single'])
      expect(await tableChecksums(server.url(name))).toEqual(await tableChecksums(server.url('app')));
  });

  it('--jobs 2 into an empty --db restores in parallel; with --single-transaction it is a usage error (exit 64) and nothing is restored', async () => {
    await server.admin.createDatabase('empty');
    const refused = await runCli(restoreArgs('--db', urlOf('empty'), '--jobs', '2', '--single-transaction'), {
      env,
    });
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain('it excludes --single-transaction');
    expect(Object.keys(await tableChecksums(server.url('empty')))).toEqual([]);

    const restored = await runCli(restoreArgs('--db', urlOf('empty'), '--jobs', '2', '--json'), { env });
    expect(restored.code).toBe(0);
    expect(JSON.parse(restored.stdout).details).toMatchObject({ jobs: 2 });
    expect(await describeDatabase(server.url('empty'))).toEqual(await describeDatabase(server.url('app')));
    expect(await tableChecksums(server.url('empty'))).toEqual(await tableChecksums(server.url('app')));
  });

  it('copy postgres --create-db --jobs 2 streams the live per-table dump into a parallel restore', async () => {
    const copied = await runCli(
      ['copy', 'postgres', '--db', urlOf('app'), '--create-db', 'app_copy', '--jobs', '2'],
      {
        env,
      },
    );
    expect(copied.stderr).not.toMatch(/error/i);
    expect(copied.code).toBe(0);
    expect(await describeDatabase(server.url('app_copy'))).toEqual(await describeDatabase(server.url('app')));
    expect(await tableChecksums(server.url('app_copy'))).toEqual(await tableChecksums(server.url('app')));
  });

  it('--jobs 0 is a usage error', async () => {
    const refused = await runCli(restoreArgs('--create-db', 'never', '--db', urlOf('app'), '--jobs', '0'), {
      env,
    });
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain('jobs must be a whole number from 1 to 64, got 0');
  });

  it('an encrypted backup restored with a wrong passphrase: exit 2 saying so, and no database is left behind (its key is derived while CREATE DATABASE runs)', async () => {
    const repo = join(dir, 'encrypted');
    const passphrase = { ...env, NEXUS_BACKUP_PASSPHRASE: 'the right passphrase' };
    const backup = await runCli(
      ['backup', 'postgres', '--db', urlOf('app'), '--encrypt', '--to', repo, '--pipeline', 'db'],
      { env: passphrase },
    );
    expect(backup.code).toBe(0);
    const databases = async () =>
      (await server.admin.query('SELECT datname FROM pg_catalog.pg_database ORDER BY 1')).rows.map(
        (row: { datname: string }) => row.datname,
      );
    const before = await databases();
    const wrong = await runCli(
      [
        'restore',
        'db@latest',
        '--from',
        repo,
        '--create-db',
        'app_wrong',
        '--db',
        urlOf('app'),
        '--jobs',
        '2',
      ],
      { env: { ...env, NEXUS_BACKUP_PASSPHRASE: 'not the passphrase' } },
    );
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('wrong passphrase');
    expect(wrong.stderr).not.toContain('not the passphrase');
    expect(await databases()).toEqual(before);

    const right = await runCli(
      [
        'restore',
        'db@latest',
        '--from',
        repo,
        '--create-db',
        'app_right',
        '--db',
        urlOf('app'),
        '--jobs',
        '2',
      ],
      { env: passphrase },
    );
    expect(right.code).toBe(0);
    expect(await tableChecksums(server.url('app_right'))).toEqual(await tableChecksums(server.url('app')));
    // Artifacts loaded side by side share one progress line, named after the backup, not after an artifact.
    expect(right.stderr).toMatch(/^db@\S+: [\d.]+ \w+ in [\d.]+ s/m);
    expect(right.stderr).not.toMatch(/data-\d{4}\.sql/);
  });
});
