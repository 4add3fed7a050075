import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, SAMPLE_SERVICE, tempDir } from './helpers/cli.js';

// Issue 16: `restore --create-db NAME --jobs N` through the binary, and what --jobs refuses.
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

  it('restore db@latest --create-db NAME --jobs 4 gives the same database as the source', async () => {
    const restored = await runCli(
      [
        'restore',
        'db@latest',
        '--from',
        join(dir, 'repo'),
        '--create-db',
        'app_jobs',
        '--db',
        urlOf('app'),
        '--jobs',
        '4',
      ],
      { env },
    );
    expect(restored.stderr).not.toMatch(/error/i);
    expect(restored.code).toBe(0);
    expect(await describeDatabase(server.url('app_jobs'))).toEqual(await describeDatabase(server.url('app')));
    expect(await tableChecksums(server.url('app_jobs'))).toEqual(await tableChecksums(server.url('app')));
  });

  it('--jobs 2 into an existing --db is a usage error (exit 64) that names --create-db, and nothing is restored', async () => {
    await server.admin.createDatabase('empty');
    const refused = await runCli(
      ['restore', 'db@latest', '--from', join(dir, 'repo'), '--db', urlOf('empty'), '--jobs', '2'],
      { env },
    );
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain('--jobs above 1 needs --create-db');
    expect(Object.keys(await tableChecksums(server.url('empty')))).toEqual([]);
  });

  it('--jobs 0 is a usage error', async () => {
    const refused = await runCli(
      [
        'restore',
        'db@latest',
        '--from',
        join(dir, 'repo'),
        '--create-db',
        'never',
        '--db',
        urlOf('app'),
        '--jobs',
        '0',
      ],
      { env },
    );
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain('jobs must be a whole number from 1 to 64, got 0');
  });
});
