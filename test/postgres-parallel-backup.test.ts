import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, tempDir as newTempDir, runCli, SAMPLE_SERVICE } from './helpers/cli.js';

const run = promisify(execFile);

/** Two tables of about 11 MiB each: each gets a data artifact of its own, so --jobs 2 reads them side by side. */
const BIG_TABLES = `
  CREATE TABLE big_one (id integer PRIMARY KEY, pad text NOT NULL);
  CREATE TABLE big_two (id integer PRIMARY KEY, one_id integer REFERENCES big_one (id), pad text);
  INSERT INTO big_one SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 90000) g;
  INSERT INTO big_two SELECT g, g, repeat(md5((g * 7)::text), 3) FROM generate_series(1, 90000) g;`;

interface ListedArtifact {
  name: string;
  file: string;
}

// Issue 16 through the real binary: `backup postgres --jobs N` stores per-table artifacts side by side.
describe('a parallel postgres backup through the nexus-backup binary', () => {
  let server: PostgresServer;
  let env: NodeJS.ProcessEnv;
  const urlOf = (database: string) => `postgresql://${server.user}@${server.host}:${server.port}/${database}`;
  const temporary: string[] = [];
  const tempDir = async (prefix: string) => {
    const dir = await newTempDir(prefix);
    temporary.push(dir);
    return dir;
  };

  beforeAll(async () => {
    server = await startPostgres();
    env = { PGPASSWORD: server.password };
    await server.admin.createDatabase('app');
    await server.admin.exec('app', await readFile(join(SAMPLE_SERVICE, 'schema.sql'), 'utf8'));
    await server.admin.exec('app', await readFile(join(SAMPLE_SERVICE, 'seed.sql'), 'utf8'));
    await server.admin.exec('app', 'SELECT seed_sample_service(300, 4)');
    await server.admin.exec('app', BIG_TABLES);
  });

  afterAll(async () => {
    for (const dir of temporary) await rm(dir, { recursive: true, force: true });
    await server?.stop();
  });

  async function expectSameAsSource(database: string): Promise<void> {
    expect(await describeDatabase(server.url(database))).toEqual(await describeDatabase(server.url('app')));
    expect(await tableChecksums(server.url(database))).toEqual(await tableChecksums(server.url('app')));
  }

  async function backup(repo: string, flags: string[]): Promise<{ id: string; artifacts: ListedArtifact[] }> {
    const result = await runCli(
      ['backup', 'postgres', '--db', urlOf('app'), '--jobs', '2', ...flags, '--to', repo, '--pipeline', 'db'],
      { env },
    );
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    const [listed] = JSON.parse((await runCli(['list', 'db', '--from', repo, '--json'])).stdout).backups;
    return { id: listed.id, artifacts: listed.artifacts };
  }

  it('stores pre-data, data (largest first) and post-data artifacts in every repository; `cat` in manifest order `| zstd -dc | psql` restores them, so do restore and restore --to-file', async () => {
    const repo = await tempDir('parallel');
    const second = await tempDir('parallel-second');
    const { id, artifacts } = await backup(repo, ['--to', second]);
    const [inSecond] = JSON.parse((await runCli(['list', 'db', '--from', second, '--json'])).stdout).backups;
    expect(inSecond.id).toBe(id);
    expect(inSecond.artifacts).toEqual(artifacts);
    expect((await runCli(['verify', 'db@latest', '--from', second, '--read'], { env })).code).toBe(0);
    const files = artifacts.map((artifact) => artifact.file);
    expect(files[0]).toBe('pre-data.sql.zst');
    expect(files.slice(1, 4)).toEqual(['data-0001.sql.zst', 'data-0002.sql.zst', 'data-0003.sql.zst']);
    expect(files.at(-1)).toBe('post-data.sql.zst');
    const manifest = JSON.parse(await readFile(join(repo, 'db', id, 'manifest.json'), 'utf8'));
    expect(
      manifest.artifacts.slice(1, 3).map((artifact: { meta: { tables: string[] } }) => artifact.meta.tables),
    ).toEqual(expect.arrayContaining([['public.big_one'], ['public.big_two']]));

    await server.admin.createDatabase('via_psql');
    await run(
      'bash',
      [
        '-c',
        'set -o pipefail; url="$1"; shift; cat "$@" | zstd -dc | psql -X -q -v ON_ERROR_STOP=1 -d "$url"',
        'bash',
        urlOf('via_psql'),
        ...files.map((file) => join(repo, 'db', id, file)),
      ],
      { env: { ...process.env, ...env } },
    );
    await expectSameAsSource('via_psql');

    const restored = await runCli(
      ['restore', 'db@latest', '--from', repo, '--create-db', 'via_restore', '--db', urlOf('app')],
      { env },
    );
    expect(restored.code).toBe(0);
    await expectSameAsSource('via_restore');

    const script = join(await tempDir('script'), 'app.sql');
    const toFile = await runCli(['restore', 'db@latest', '--from', repo, '--to-file', script], { env });
    expect(toFile.code).toBe(0);
    await server.admin.createDatabase('via_file');
    await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', urlOf('via_file'), '-f', script], {
      env: { ...process.env, ...env },
    });
    await expectSameAsSource('via_file');

    const verify = await runCli(['verify', 'db@latest', '--from', repo], { env });
    expect(verify.code).toBe(0);
  });

  it('a backup in the single-artifact layout of earlier versions (database.sql) still restores and drills', async () => {
    const repo = await tempDir('old-layout');
    const { id, artifacts } = await backup(repo, ['--no-zstd']);
    const manifest = JSON.parse(await readFile(join(repo, 'db', id, 'manifest.json'), 'utf8'));
    // The way earlier versions wrote it: one script, one artifact, its meta without `part` or `layout`.
    const script = Buffer.concat(
      await Promise.all(artifacts.map((artifact) => readFile(join(repo, 'db', id, artifact.file)))),
    );
    const digest = { bytes: script.length, sha256: createHash('sha256').update(script).digest('hex') };
    const { part: _part, layout: _layout, ...meta } = manifest.artifacts[0].meta;
    const rows = Object.assign(
      {},
      ...manifest.artifacts.map((artifact: { meta: { rows?: object } }) => artifact.meta.rows ?? {}),
    );
    const oldId = id.replace(/-[0-9a-f]{6}$/, '-01d1a0');
    await mkdir(join(repo, 'db', oldId));
    await writeFile(join(repo, 'db', oldId, 'database.sql'), script);
    await writeFile(
      join(repo, 'db', oldId, 'manifest.json'),
      JSON.stringify({
        ...manifest,
        id: oldId,
        artifacts: [
          {
            name: 'database.sql',
            file: 'database.sql',
            stored: digest,
            raw: digest,
            meta: { ...meta, rows },
          },
        ],
      }),
    );

    const restored = await runCli(
      ['restore', `db@${oldId}`, '--from', repo, '--create-db', 'from_old', '--db', urlOf('app')],
      { env },
    );
    expect(restored.stderr).not.toMatch(/error/i);
    expect(restored.code).toBe(0);
    await expectSameAsSource('from_old');

    const drill = await runCli(
      ['drill', `db@${oldId}`, '--from', repo, '--db', urlOf('postgres'), '--json'],
      { env },
    );
    expect(drill.code).toBe(0);
    const [result] = JSON.parse(drill.stdout).drills;
    expect(result.checks).toContainEqual({
      name: 'rows public.big_one',
      ok: true,
      expected: 90000,
      actual: 90000,
    });
  });

  it('a drill of a per-table backup compares the row counts of every data artifact', async () => {
    const repo = await tempDir('drill');
    await backup(repo, []);
    const drill = await runCli(['drill', 'db@latest', '--from', repo, '--db', urlOf('postgres'), '--json'], {
      env,
    });
    expect(drill.code).toBe(0);
    const [result] = JSON.parse(drill.stdout).drills;
    expect(result.checks).toContainEqual({
      name: 'rows public.big_one',
      ok: true,
      expected: 90000,
      actual: 90000,
    });
    expect(result.checks).toContainEqual({
      name: 'rows public.big_two',
      ok: true,
      expected: 90000,
      actual: 90000,
    });
    expect(
      result.checks.filter((check: { name: string }) => check.name.startsWith('objects ')).length,
    ).toBeGreaterThan(0);
  });

  it('copy postgres streams the per-table artifacts of a live dump into a new database', async () => {
    const copied = await runCli(['copy', 'postgres', '--db', urlOf('app'), '--create-db', 'copied'], { env });
    expect(copied.stderr).not.toMatch(/error/i);
    expect(copied.code).toBe(0);
    await expectSameAsSource('copied');
  });

  it('killed with SIGKILL while two data artifacts stream: nothing is listed, and no dump connection stays open', async () => {
    const repo = await tempDir('killed');
    const child = spawn(
      process.execPath,
      [CLI_BIN, 'backup', 'postgres', '--db', urlOf('app'), '--jobs', '2', '--to', repo, '--pipeline', 'db'],
      { env: { ...process.env, ...env }, stdio: 'ignore' },
    );
    const exited = new Promise((resolve) => child.on('exit', resolve));
    // Both big tables' artifacts being written at once: the parallel part of the backup.
    const streaming = (files: string[]) =>
      files.some((file) => file.includes('data-0001')) && files.some((file) => file.includes('data-0002'));
    let files: string[] = [];
    while (!streaming(files)) {
      files = await readdir(repo, { recursive: true }).catch(() => []);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    child.kill('SIGKILL');
    await exited;
    const left = await readdir(repo, { recursive: true });
    expect(left.some((file) => file.endsWith('manifest.json'))).toBe(false);
    const list = JSON.parse((await runCli(['list', '--from', repo, '--json'])).stdout);
    expect(list.backups).toEqual([]);
    const restore = await runCli(['restore', 'db@latest', '--from', repo, '--to-file', join(repo, 'x.sql')], {
      env,
    });
    expect(restore.code).toBe(2);
    let sessions = 1;
    for (let attempt = 0; attempt < 50 && sessions > 0; attempt++) {
      const { rows } = await server.admin.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'nexus-backup dump'",
      );
      sessions = Number(rows[0]?.n);
      if (sessions > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(sessions).toBe(0);
  });
});
