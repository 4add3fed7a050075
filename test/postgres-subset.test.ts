import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, SAMPLE_SERVICE, tempDir } from './helpers/cli.js';

const run = promisify(execFile);

let server: PostgresServer;
let dir: string;
let env: NodeJS.ProcessEnv;
let app: string;

/** URLs as an operator passes them on the command line: no password (it comes from PGPASSWORD). */
const plainUrl = (database: string) => `postgresql://postgres@127.0.0.1:${server.port}/${database}`;

async function sql(database: string, query: string): Promise<string> {
  const { stdout } = await run(
    'psql',
    ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', plainUrl(database), '-c', query],
    {
      env: { ...process.env, PGPASSWORD: server.password },
    },
  );
  return stdout.trim();
}

beforeAll(async () => {
  server = await startPostgres();
  dir = await tempDir('pg-subset');
  await server.admin.createDatabase('app');
  await server.admin.exec('app', await readFile(join(SAMPLE_SERVICE, 'schema.sql'), 'utf8'));
  await server.admin.exec('app', await readFile(join(SAMPLE_SERVICE, 'seed.sql'), 'utf8'));
  // 300 requests, 7 minutes apart: 35 hours of traffic, so "1 day" leaves some out.
  await server.admin.exec(
    'app',
    `SELECT seed_sample_service(300, 2);
     -- Requests 7 minutes apart put a request 2 minutes from the "1 day" boundary; 90 s older puts the
     -- boundary 3.5 minutes from any row, so the window the test computes later is the backup's.
     UPDATE api_requests SET created_at = created_at - interval '90 seconds';
     UPDATE stream_chunks SET created_at = created_at - interval '90 seconds';
     UPDATE analyses a SET created_at = r.created_at FROM api_requests r WHERE r.id = a.request_id;
     UPDATE audit_log SET at = now() - interval '3 days';`,
  );
  await server.admin.createDatabase('staging');
  await server.admin.exec('staging', await readFile(join(SAMPLE_SERVICE, 'schema.sql'), 'utf8'));
  app = plainUrl('app');
  env = { DATABASE_URL: app, PGPASSWORD: server.password };
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('nexus-backup with a row selection', () => {
  it('backup postgres --since "1 day" --group api_requests.conversation_id: the backup restores whole recent conversations with every key', async () => {
    const backup = await runCli(
      [
        'backup',
        'postgres',
        '--db',
        app,
        '--since',
        '1 day',
        '--group',
        'api_requests.conversation_id',
        '--to',
        join(dir, 'backups'),
        '--pipeline',
        'recent',
      ],
      { env },
    );
    expect(backup.stderr).toContain('selection (since 1 day');
    expect(backup.code).toBe(0);
    const restore = await runCli(
      [
        'restore',
        'recent@latest',
        '--from',
        join(dir, 'backups'),
        '--create-db',
        'recent_restored',
        '--db',
        app,
      ],
      { env },
    );
    expect(restore.code).toBe(0);
    const expected = await sql(
      'app',
      `SELECT count(*) FROM api_requests WHERE conversation_id IN
         (SELECT conversation_id FROM api_requests WHERE created_at >= now() - interval '1 day')`,
    );
    expect(Number(expected)).toBeLessThan(300);
    expect(await sql('recent_restored', 'SELECT count(*) FROM api_requests')).toBe(expected);
    expect(await sql('recent_restored', 'SELECT count(*) FROM stream_chunks')).toBe(
      String(Number(expected) * 2),
    );
    expect(await sql('recent_restored', 'SELECT count(*) FROM audit_log')).toBe('0');
    expect(
      await sql('recent_restored', "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated"),
    ).toBe('2');
  });

  it('copy postgres --create-db recent_copy --since 2024-01-01 copies every row of a database younger than the date', async () => {
    const copy = await runCli(
      ['copy', 'postgres', '--db', app, '--create-db', 'recent_copy', '--since', '2024-01-01'],
      { env },
    );
    expect(copy.stderr + copy.stdout).toContain('created database "recent_copy"');
    expect(copy.code).toBe(0);
    // The materialized view is recomputed by each side's REFRESH; refresh both in the same kind of
    // session so the comparison is about the copied rows (matview fidelity has its own oracle tests).
    for (const database of ['app', 'recent_copy'])
      await server.admin.exec(database, 'REFRESH MATERIALIZED VIEW daily_usage');
    expect(await tableChecksums(server.url('recent_copy'))).toEqual(await tableChecksums(server.url('app')));
  });

  it('copy postgres --to-db --conversation-id --include-chunks --dry-run reports and writes nothing; without --dry-run it copies once', async () => {
    const conversation = '00000000-0000-4000-8000-000000000005';
    const staging = plainUrl('staging');
    const before = await tableChecksums(server.url('staging'));
    const args = [
      'copy',
      'postgres',
      '--db',
      app,
      '--to-db',
      staging,
      '--conversation-id',
      conversation,
      '--include-chunks',
    ];
    const dry = await runCli([...args, '--dry-run'], { env });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(
      `dry run, nothing written to ${staging}: 16 rows selected, 16 would be copied, 0 already present`,
    );
    expect(dry.stdout).toMatch(/public\.api_requests\s+4\s+4\s+0/);
    expect(dry.stdout).toContain(`"conversation_id":"${conversation}"`);
    expect(await tableChecksums(server.url('staging'))).toEqual(before);

    const copy = await runCli(args, { env });
    expect(copy.code).toBe(0);
    expect(copy.stdout).toContain('16 rows selected, 16 copied, 0 already present');
    expect(await sql('staging', 'SELECT count(*) FROM stream_chunks')).toBe('8');
    const again = await runCli(args, { env });
    expect(again.stdout).toContain('16 rows selected, 0 copied, 16 already present');
  });

  it('a bad --conversation-id or --since is a usage error naming the accepted forms, and nothing is touched', async () => {
    const before = await tableChecksums(server.url('staging'));
    const uuid = await runCli(
      [
        'copy',
        'postgres',
        '--db',
        app,
        '--to-db',
        plainUrl('staging'),
        '--conversation-id',
        '3f0c-not-a-uuid',
        '--dry-run',
      ],
      { env },
    );
    expect(uuid.code).toBe(64);
    expect(uuid.stderr).toContain('--conversation-id "3f0c-not-a-uuid" is not a UUID');
    const since = await runCli(
      ['copy', 'postgres', '--db', app, '--to-db', plainUrl('staging'), '--since', 'yesterday'],
      { env },
    );
    expect(since.code).toBe(64);
    expect(since.stderr).toContain('--since "yesterday" is neither a duration nor a date');
    expect(since.stderr).toContain('"1 day", "2 hours", "3 weeks"');
    expect(await tableChecksums(server.url('staging'))).toEqual(before);
  });
});
