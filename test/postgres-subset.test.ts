import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
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

/** Row count and a digest of a table's rows (those matching `where`), to compare two databases exactly. */
async function rows(database: string, table: string, where = 'true'): Promise<string> {
  return sql(
    database,
    `SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-') FROM ${table} t WHERE ${where}`,
  );
}

/**
 * The guide's "--since 1 day", as independent SQL on the source: whole conversations with a request
 * whose request time (`timestamp`) is in the window, their chunks (by their foreign key), analyses
 * and audit rows (by conversation).
 */
const RECENT_CONVERSATIONS = `conversation_id IN (SELECT conversation_id FROM api_requests WHERE timestamp >= now() - interval '1 day')`;
const RECENT: Record<string, string> = {
  api_requests: RECENT_CONVERSATIONS,
  streaming_chunks: `request_id IN (SELECT request_id FROM api_requests WHERE ${RECENT_CONVERSATIONS})`,
  conversation_analyses: RECENT_CONVERSATIONS,
  analysis_audit_log: RECENT_CONVERSATIONS,
};

/** Every table of `copy` holds exactly the source rows `expected` names for it. */
async function expectExactRows(copy: string, expected: Record<string, string>): Promise<void> {
  for (const [table, where] of Object.entries(expected)) {
    expect({ table, rows: await rows(copy, table) }).toEqual({
      table,
      rows: await rows('app', table, where),
    });
  }
}

beforeAll(async () => {
  server = await startPostgres();
  dir = await tempDir('pg-subset');
  await server.admin.createDatabase('app');
  await server.admin.exec('app', await readFile(join(SAMPLE_SERVICE, 'schema.sql'), 'utf8'));
  await server.admin.exec('app', await readFile(join(SAMPLE_SERVICE, 'seed.sql'), 'utf8'));
  // 300 requests, 29 minutes apart: six days of traffic, so "1 day" leaves most out. The nearest
  // request is 10 minutes from the "1 day" boundary, so the window the test computes is the tool's.
  await server.admin.exec('app', 'SELECT seed_sample_service(300, 2)');
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
  it('copy postgres --profile claude-nexus --create-db recent --since "1 day" copies whole conversations by request time, their chunks, analyses and audit rows', async () => {
    const copy = await runCli(
      [
        'copy',
        'postgres',
        '--profile',
        'claude-nexus',
        '--db',
        app,
        '--create-db',
        'recent',
        '--since',
        '1 day',
      ],
      { env },
    );
    expect(copy.stderr).toContain('selection (profile claude-nexus; selection recent');
    expect(copy.code).toBe(0);
    await expectExactRows('recent', RECENT);
    const [requests, total, byInsertion] = await Promise.all([
      sql('recent', 'SELECT count(*) FROM api_requests'),
      sql('app', 'SELECT count(*) FROM api_requests'),
      sql('app', "SELECT count(*) FROM api_requests WHERE created_at >= now() - interval '1 day'"),
    ]);
    expect(Number(requests)).toBeGreaterThan(0);
    expect(Number(requests)).toBeLessThan(Number(total));
    // Whole conversations reach back before the window.
    expect(
      Number(
        await sql('recent', "SELECT count(*) FROM api_requests WHERE timestamp < now() - interval '1 day'"),
      ),
    ).toBeGreaterThan(0);
    // A window by insertion time (created_at, the generic guess) would select other requests.
    expect(
      Number(await sql('app', `SELECT count(*) FROM api_requests WHERE ${RECENT_CONVERSATIONS}`)),
    ).not.toBe(
      Number(
        await sql(
          'app',
          `SELECT count(*) FROM api_requests WHERE conversation_id IN (SELECT conversation_id FROM api_requests WHERE created_at >= now() - interval '1 day')`,
        ),
      ),
    );
    expect(Number(byInsertion)).toBeGreaterThan(0);
    expect(Number(await sql('recent', 'SELECT count(*) FROM analysis_audit_log'))).toBeGreaterThan(0);
  });

  it('backup postgres --profile claude-nexus --since "1 day" --pipeline recent: the backup restores the same rows with every key', async () => {
    const backup = await runCli(
      [
        'backup',
        'postgres',
        '--profile',
        'claude-nexus',
        '--db',
        app,
        '--since',
        '1 day',
        '--to',
        join(dir, 'backups'),
        '--pipeline',
        'recent',
      ],
      { env },
    );
    expect(backup.stderr).toContain('selection (profile claude-nexus; selection recent');
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
    await expectExactRows('recent_restored', RECENT);
    expect(
      await sql('recent_restored', "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated"),
    ).toBe(await sql('app', "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated"));
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

  it('copy postgres --to-db --conversation-id: --dry-run writes nothing; chunks (found by their foreign key) only with --include-chunks', async () => {
    const conversation = '00000000-0000-4000-8000-000000000005';
    const staging = plainUrl('staging');
    const mine = `conversation_id = '${conversation}'`;
    const chunks = `request_id IN (SELECT request_id FROM api_requests WHERE ${mine})`;
    const count = async (table: string, where: string) =>
      Number(await sql('app', `SELECT count(*) FROM ${table} WHERE ${where}`));
    const [requests, chunkRows, analyses, audit] = await Promise.all([
      count('api_requests', mine),
      count('streaming_chunks', chunks),
      count('conversation_analyses', mine),
      count('analysis_audit_log', mine),
    ]);
    expect(requests).toBeGreaterThan(1);
    expect(analyses).toBe(1);
    expect(audit).toBeGreaterThan(0);
    const base = ['copy', 'postgres', '--db', app, '--to-db', staging, '--conversation-id', conversation];
    const before = await tableChecksums(server.url('staging'));

    const some = requests + analyses + audit;
    const dryWithout = await runCli([...base, '--profile', 'claude-nexus', '--dry-run'], { env });
    expect(dryWithout.code).toBe(0);
    expect(dryWithout.stdout).toContain(
      `dry run, nothing written to ${staging}: ${some} rows selected, ${some} would be copied, 0 already present`,
    );
    expect(dryWithout.stdout).toMatch(/public\.streaming_chunks\s+0\s+0\s+0/);

    const dry = await runCli([...base, '--profile', 'claude-nexus', '--include-chunks', '--dry-run'], {
      env,
    });
    expect(dry.code).toBe(0);
    const all = requests + chunkRows + analyses + audit;
    expect(dry.stdout).toContain(
      `dry run, nothing written to ${staging}: ${all} rows selected, ${all} would be copied, 0 already present`,
    );
    expect(dry.stdout).toMatch(new RegExp(`public\\.api_requests\\s+${requests}\\s+${requests}\\s+0`));
    expect(dry.stdout).toMatch(new RegExp(`public\\.streaming_chunks\\s+${chunkRows}\\s+${chunkRows}\\s+0`));
    expect(await tableChecksums(server.url('staging'))).toEqual(before);

    // Without --profile: the service is recognised from its tables.
    const withoutChunks = await runCli(base, { env });
    expect(withoutChunks.code).toBe(0);
    expect(withoutChunks.stdout).toContain(`${some} rows selected, ${some} copied, 0 already present`);
    await expectExactRows('staging', {
      api_requests: mine,
      streaming_chunks: 'false',
      conversation_analyses: mine,
      analysis_audit_log: mine,
    });

    const withChunks = await runCli([...base, '--include-chunks'], { env });
    expect(withChunks.code).toBe(0);
    expect(withChunks.stdout).toContain(`${all} rows selected, ${chunkRows} copied, ${some} already present`);
    await expectExactRows('staging', {
      api_requests: mine,
      streaming_chunks: chunks,
      conversation_analyses: mine,
      analysis_audit_log: mine,
    });
  });

  it('copy postgres --profile ./my-profile.yaml --select tenant --param acme copies one tenant of a schema of your own', async () => {
    await server.admin.createDatabase('saas');
    await server.admin.exec(
      'saas',
      `CREATE TABLE tenants (id text PRIMARY KEY, plan text NOT NULL);
       CREATE TABLE projects (id serial PRIMARY KEY, tenant_id text NOT NULL REFERENCES tenants, name text NOT NULL);
       CREATE TABLE builds (id serial PRIMARY KEY, project_id int NOT NULL REFERENCES projects ON DELETE CASCADE, log text);
       CREATE TABLE usage_events (id serial PRIMARY KEY, tenant text NOT NULL, units int NOT NULL);
       INSERT INTO tenants VALUES ('acme', 'pro'), ('globex', 'free'), ('initech', 'pro');
       INSERT INTO projects (tenant_id, name) SELECT (ARRAY['acme', 'globex', 'initech'])[1 + i % 3], 'p' || i FROM generate_series(1, 12) i;
       INSERT INTO builds (project_id, log) SELECT 1 + i % 12, E'log\\t' || i FROM generate_series(1, 48) i;
       INSERT INTO usage_events (tenant, units) SELECT (ARRAY['acme', 'globex', 'initech'])[1 + i % 3], i FROM generate_series(1, 30) i;`,
    );
    const profileDir = await tempDir('profile');
    try {
      await writeFile(
        join(profileDir, 'my-profile.yaml'),
        `name: my-saas
recognise: [projects, builds]
links:
  - { from: usage_events.tenant, to: projects.tenant_id }
selections:
  tenant:
    description: one tenant's projects, their builds and usage
    params: [text]
    where:
      projects: tenant_id = $1
`,
      );
      const copy = await runCli(
        [
          'copy',
          'postgres',
          '--profile',
          './my-profile.yaml',
          '--db',
          plainUrl('saas'),
          '--create-db',
          'part',
          '--select',
          'tenant',
          '--param',
          'acme',
        ],
        { env, cwd: profileDir },
      );
      expect(copy.stderr).toContain('selection (profile my-saas; selection tenant');
      expect(copy.code).toBe(0);
      for (const [table, where] of Object.entries({
        tenants: "id = 'acme'",
        projects: "tenant_id = 'acme'",
        builds: "project_id IN (SELECT id FROM projects WHERE tenant_id = 'acme')",
        usage_events: "tenant = 'acme'",
      })) {
        expect({ table, rows: await rows('part', table) }).toEqual({
          table,
          rows: await rows('saas', table, where),
        });
      }
      expect(Number(await sql('part', 'SELECT count(*) FROM builds'))).toBe(16);
    } finally {
      await rm(profileDir, { recursive: true, force: true });
    }
  });

  it('a bad profile file is one usage error naming the key to fix (exit 64), and nothing is created', async () => {
    const profileDir = await tempDir('bad-profile');
    try {
      await writeFile(
        join(profileDir, 'bad.yaml'),
        'selections:\n  tenant:\n    wher: { projects: tenant_id = $1 }\n',
      );
      const bad = await runCli(
        [
          'copy',
          'postgres',
          '--profile',
          join(profileDir, 'bad.yaml'),
          '--db',
          app,
          '--create-db',
          'never',
          '--select',
          'tenant',
          '--param',
          'acme',
        ],
        { env },
      );
      expect(bad.code).toBe(64);
      expect(bad.stderr).toContain(
        `profile ${join(profileDir, 'bad.yaml')}: selections.tenant.wher: unknown key`,
      );
      expect(
        bad.stderr
          .trim()
          .split('\n')
          .filter((line) => line.includes('wher')).length,
      ).toBe(1);
      expect(await sql('app', "SELECT count(*) FROM pg_database WHERE datname = 'never'")).toBe('0');
    } finally {
      await rm(profileDir, { recursive: true, force: true });
    }
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
