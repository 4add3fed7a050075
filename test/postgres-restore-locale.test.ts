import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';

// A new database takes the source's encoding and locale, like pg_dump --create, not the server's
// defaults: a different collation changes text order, a different encoding which characters fit.
describe('restore --create-db makes the database with the backed-up encoding and locale', () => {
  let server: PostgresServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const urlOf = (database: string, on: PostgresServer = server) =>
    `postgresql://${on.user}@${on.host}:${on.port}/${database}`;

  /** Creates `database` on `on` with `settings` (CREATE DATABASE options), runs `seed` in it, backs it up into `repo`. */
  async function backUpNewDatabase(
    on: PostgresServer,
    database: string,
    settings: string,
    seed: string,
    repo: string,
  ): Promise<void> {
    await on.admin.query(`CREATE DATABASE ${database} TEMPLATE template0 ${settings}`);
    await on.admin.exec(database, seed);
    const backup = await runCli(
      ['backup', 'postgres', '--db', urlOf(database, on), '--to', repo, '--pipeline', database],
      { env: { PGPASSWORD: on.password } },
    );
    expect(backup.stderr).not.toMatch(/error/i);
    expect(backup.code).toBe(0);
  }

  /** The settings a database was created with. */
  async function localeOf(database: string): Promise<Record<string, string>> {
    const { rows } = await server.admin.query<Record<string, string>>(
      `SELECT pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype
       FROM pg_database WHERE datname = $1`,
      [database],
    );
    return rows[0] as Record<string, string>;
  }

  beforeAll(async () => {
    server = await startPostgres();
    dir = await tempDir('pg-locale');
    env = { PGPASSWORD: server.password };
    // Not the server's default (UTF8): LATIN1 goes with the C locale on any system.
    await backUpNewDatabase(
      server,
      'latin',
      "ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'",
      "CREATE TABLE api_requests (request_id text PRIMARY KEY, body text); INSERT INTO api_requests VALUES ('r1', 'café crème'), ('r2', 'Ærø');",
      join(dir, 'repo'),
    );
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the source differs from the server default, so the test can tell them apart', async () => {
    expect((await localeOf('postgres')).encoding).not.toBe('LATIN1');
  });

  for (const [label, flags] of [
    ['in parallel (--jobs 2)', ['--jobs', '2']],
    ['in one transaction (--single-transaction)', ['--single-transaction']],
    ['of one table (--table)', ['--table', 'api_requests']],
  ] as const) {
    it(`restores ${label} into a LATIN1 database with the same rows`, async () => {
      const name = `restored_${label.replace(/\W+/g, '_')}`.slice(0, 60);
      const restore = await runCli(
        [
          'restore',
          'latin@latest',
          '--from',
          join(dir, 'repo'),
          '--create-db',
          name,
          '--db',
          urlOf('postgres'),
          ...flags,
        ],
        { env },
      );
      expect(restore.stderr).not.toMatch(/error/i);
      expect(restore.code).toBe(0);
      expect(await localeOf(name)).toEqual(await localeOf('latin'));
      expect(await tableChecksums(server.url(name))).toEqual(await tableChecksums(server.url('latin')));
    });
  }

  it('drill checks the copy in a scratch database with the same encoding and locale', async () => {
    const drill = await runCli(
      [
        'drill',
        'latin@latest',
        '--from',
        join(dir, 'repo'),
        '--db',
        urlOf('postgres'),
        '--check',
        "select pg_encoding_to_char(encoding) = 'LATIN1' from pg_database where datname = current_database()",
      ],
      { env },
    );
    expect(drill.stderr).not.toMatch(/error/i);
    expect(drill.code).toBe(0);
  });

  it('the manifest records the locale in the pre-data artifact', async () => {
    const listed = JSON.parse(
      (await runCli(['list', 'latin', '--from', join(dir, 'repo'), '--json'])).stdout,
    );
    const manifest = JSON.parse(
      await readFile(join(dir, 'repo', 'latin', listed.backups[0].id, 'manifest.json'), 'utf8'),
    );
    expect(manifest.artifacts[0].meta.locale).toEqual({ encoding: 'LATIN1', collate: 'C', ctype: 'C' });
  });

  // ICU databases exist from PostgreSQL 15: on 13-14 this test runs on a server of its own.
  it('restores a database with an ICU locale into one with the same provider and locale', async () => {
    const icuServer = server.major >= 15 ? server : await startPostgres({ major: 15 });
    try {
      const repo = join(dir, 'repo-icu');
      await backUpNewDatabase(
        icuServer,
        'icu',
        "ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'de' LC_COLLATE 'C' LC_CTYPE 'C'",
        "CREATE TABLE streaming_chunks (id int PRIMARY KEY, text text); INSERT INTO streaming_chunks VALUES (1, 'Straße');",
        repo,
      );
      const restore = await runCli(
        [
          'restore',
          'icu@latest',
          '--from',
          repo,
          '--create-db',
          'icu_restored',
          '--db',
          urlOf('postgres', icuServer),
        ],
        { env: { PGPASSWORD: icuServer.password } },
      );
      expect(restore.code).toBe(0);
      const locale = icuServer.major >= 17 ? 'datlocale' : 'daticulocale';
      const settings = `SELECT datlocprovider::text AS provider, ${locale} AS locale, pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = $1`;
      const restored = (await icuServer.admin.query(settings, ['icu_restored'])).rows[0];
      expect(restored).toEqual({ provider: 'i', locale: 'de', encoding: 'UTF8' });
      expect(restored).toEqual((await icuServer.admin.query(settings, ['icu'])).rows[0]);
    } finally {
      if (icuServer !== server) await icuServer.stop();
    }
  });
});
