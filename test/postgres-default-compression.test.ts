import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, SAMPLE_SERVICE, tempDir } from './helpers/cli.js';

const run = promisify(execFile);

// Issue 16: a postgres backup compresses with zstd unless a compressor is named; other sources keep gzip.
describe('default compression of postgres backups', () => {
  let server: PostgresServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const urlOf = (database: string) => `postgresql://${server.user}@${server.host}:${server.port}/${database}`;

  beforeAll(async () => {
    server = await startPostgres();
    dir = await tempDir('pg-compression');
    env = { PGPASSWORD: server.password };
    await server.admin.createDatabase('app');
    await server.admin.exec('app', await readFile(join(SAMPLE_SERVICE, 'schema.sql'), 'utf8'));
    await server.admin.exec('app', await readFile(join(SAMPLE_SERVICE, 'seed.sql'), 'utf8'));
    await server.admin.exec('app', 'SELECT seed_sample_service(200, 4)');
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /**
   * Backs `app` up with `flags` into pipeline `pipeline`; returns the stored file of its first artifact
   * (pre-data) and the paths of all of them in manifest order (concatenated: one script).
   */
  async function backup(pipeline: string, flags: string[]): Promise<{ file: string; paths: string[] }> {
    const repo = join(dir, 'repo');
    const result = await runCli(
      ['backup', 'postgres', '--db', urlOf('app'), ...flags, '--to', repo, '--pipeline', pipeline],
      { env },
    );
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    const [listed] = JSON.parse((await runCli(['list', pipeline, '--from', repo, '--json'])).stdout).backups;
    const files = (listed.artifacts as { file: string }[]).map((artifact) => artifact.file);
    return { file: files[0] as string, paths: files.map((file) => join(repo, pipeline, listed.id, file)) };
  }

  async function expectSameAsSource(database: string): Promise<void> {
    expect(await describeDatabase(server.url(database))).toEqual(await describeDatabase(server.url('app')));
    expect(await tableChecksums(server.url(database))).toEqual(await tableChecksums(server.url('app')));
  }

  it('is zstd without a compressor flag: `cat` of the artifacts in manifest order `| zstd -dc | psql` restores it, and so does restore without a flag', async () => {
    const { file, paths } = await backup('plain', []);
    expect(file).toBe('pre-data.sql.zst');

    await server.admin.createDatabase('via_psql');
    await run(
      'bash',
      [
        '-c',
        'set -o pipefail; url="$1"; shift; cat "$@" | zstd -dc | psql -X -q -v ON_ERROR_STOP=1 -d "$url"',
        'bash',
        urlOf('via_psql'),
        ...paths,
      ],
      {
        env: { ...process.env, ...env },
      },
    );
    await expectSameAsSource('via_psql');

    const restored = await runCli(
      [
        'restore',
        'plain@latest',
        '--from',
        join(dir, 'repo'),
        '--create-db',
        'via_restore',
        '--db',
        urlOf('app'),
      ],
      { env },
    );
    expect(restored.code).toBe(0);
    await expectSameAsSource('via_restore');
  });

  it('--gzip keeps gzip, and `cat` of the artifacts `| gunzip | psql` reads it', async () => {
    const { file, paths } = await backup('gzip', ['--gzip']);
    expect(file).toBe('pre-data.sql.gz');
    await server.admin.createDatabase('via_gunzip');
    await run(
      'bash',
      [
        '-c',
        'set -o pipefail; url="$1"; shift; cat "$@" | gunzip -c | psql -X -q -v ON_ERROR_STOP=1 -d "$url"',
        'bash',
        urlOf('via_gunzip'),
        ...paths,
      ],
      {
        env: { ...process.env, ...env },
      },
    );
    await expectSameAsSource('via_gunzip');
  });

  it('an option of gzip alone (--gzip-parallel 2) names gzip instead of being ignored', async () => {
    expect((await backup('gzip-parallel', ['--gzip-parallel', '2'])).file).toBe('pre-data.sql.gz');
  });

  it('an option of zstd alone (--zstd-workers 2) keeps zstd as the only compressor', async () => {
    expect((await backup('zstd-workers', ['--zstd-workers', '2'])).file).toBe('pre-data.sql.zst');
    const manifest = JSON.parse(
      (await runCli(['list', 'zstd-workers', '--from', join(dir, 'repo'), '--json'])).stdout,
    );
    expect(manifest.backups[0].transforms).toEqual(['zstd']);
  });

  it('--no-zstd and --no-gzip both leave the dump uncompressed, as --no-gzip always has', async () => {
    expect((await backup('no-zstd', ['--no-zstd'])).file).toBe('pre-data.sql');
    expect((await backup('no-gzip', ['--no-gzip'])).file).toBe('pre-data.sql');
  });

  it('--no-zstd with --gzip is gzip; --encrypt keeps the default compressor before encryption', async () => {
    expect((await backup('gzip-not-zstd', ['--no-zstd', '--gzip'])).file).toBe('pre-data.sql.gz');
    const encrypted = await runCli(
      [
        'backup',
        'postgres',
        '--db',
        urlOf('app'),
        '--encrypt',
        '--to',
        join(dir, 'repo'),
        '--pipeline',
        'enc',
      ],
      { env: { ...env, NEXUS_BACKUP_PASSPHRASE: 'default compression test' } },
    );
    expect(encrypted.code).toBe(0);
    const [listed] = JSON.parse(
      (await runCli(['list', 'enc', '--from', join(dir, 'repo'), '--json'])).stdout,
    ).backups;
    expect(listed.artifacts[0].file).toBe('pre-data.sql.zst.aes');
  });

  it('files keep gzip by default', async () => {
    await writeFile(join(dir, 'notes.txt'), 'not a database\n'.repeat(100));
    const result = await runCli(
      ['backup', 'files', 'notes.txt', '--to', join(dir, 'repo'), '--pipeline', 'files'],
      { cwd: dir },
    );
    expect(result.code).toBe(0);
    const [listed] = JSON.parse(
      (await runCli(['list', 'files', '--from', join(dir, 'repo'), '--json'])).stdout,
    ).backups;
    expect(listed.artifacts[0].file).toBe('files.tar.gz');
  });

  it('a config pipeline without transforms: compresses as backup does: zstd for postgres, gzip for files', async () => {
    const service = join(dir, 'config-service');
    await mkdir(service, { recursive: true });
    await writeFile(join(service, '.env'), 'MODE=test\n');
    await writeFile(
      join(service, 'nexus-backup.yaml'),
      [
        'repositories:',
        `  local: ${join(dir, 'config-repo')}`,
        'pipelines:',
        '  database: { source: { use: postgres, db: "${APP_URL}" }, to: [ local ] }',
        '  config: { source: { use: files, paths: [ .env ] }, to: [ local ] }',
        '  plain: { source: { use: files, paths: [ .env ] }, transforms: [], to: [ local ] }',
      ].join('\n'),
    );
    const result = await runCli(['run'], { cwd: service, env: { ...env, APP_URL: urlOf('app') } });
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    const files = async (pipeline: string) =>
      JSON.parse((await runCli(['list', pipeline, '--from', join(dir, 'config-repo'), '--json'])).stdout)
        .backups[0].artifacts[0].file;
    expect(await files('database')).toBe('pre-data.sql.zst');
    expect(await files('config')).toBe('files.tar.gz');
    expect(await files('plain')).toBe('files.tar');
  });
});
