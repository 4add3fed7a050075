import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, SAMPLE_SERVICE, tempDir } from './helpers/cli.js';

const run = promisify(execFile);

interface ManifestArtifact {
  name: string;
  file: string;
  meta: { part?: string; tables?: string[] };
}

/** Issue 16: `restore db@latest --table T [--table ...] [--data-only]` from a per-table backup, through the binary. */
describe('restore --table through the nexus-backup binary', () => {
  let server: PostgresServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let repo: string;
  let source: Record<string, string>;
  const urlOf = (database: string) => `postgresql://${server.user}@${server.host}:${server.port}/${database}`;
  const restore = (args: string[], from = repo) =>
    runCli(['restore', 'db@latest', '--from', from, ...args], { env });
  const only = (sums: Record<string, string>, names: string[]) =>
    Object.fromEntries(names.map((name) => [name, sums[name]]));

  beforeAll(async () => {
    server = await startPostgres();
    dir = await tempDir('pg-table');
    repo = join(dir, 'repo');
    env = { PGPASSWORD: server.password };
    await server.admin.createDatabase('app');
    const schema = await readFile(join(SAMPLE_SERVICE, 'schema.sql'), 'utf8');
    await server.admin.exec('app', schema);
    await server.admin.exec('app', await readFile(join(SAMPLE_SERVICE, 'seed.sql'), 'utf8'));
    await server.admin.exec('app', 'SELECT seed_sample_service(200, 4)');
    // About 12 MB of audit rows: over the 8 MiB at which a table gets a data artifact of its own.
    await server.admin.exec(
      'app',
      `INSERT INTO analysis_audit_log (event_type, outcome, conversation_id, branch_id, domain, request_id, metadata)
       SELECT 'analysis', 'ok', gen_random_uuid(), 'main', 'app.example.com', i::text,
              jsonb_build_object('note', repeat(md5(i::text), 30))
       FROM generate_series(1, 12000) AS i`,
    );
    await server.admin.exec(
      'app',
      `INSERT INTO conversation_analyses (conversation_id, status, analysis_content)
       SELECT gen_random_uuid(), 'completed', 'analysis ' || i FROM generate_series(1, 50) AS i;
       REFRESH MATERIALIZED VIEW daily_usage`,
    );
    source = await tableChecksums(server.url('app'));
    const backup = await runCli(
      ['backup', 'postgres', '--db', urlOf('app'), '--to', repo, '--pipeline', 'db'],
      { env },
    );
    expect(backup.code).toBe(0);
    // The empty schema of the sample service, for --data-only.
    await server.admin.createDatabase('existing');
    await server.admin.exec('existing', schema);
  }, 240_000);
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('--table api_requests --table streaming_chunks --create-db restores those tables with their indexes, keys and the view over them, rows equal to the source', async () => {
    const restored = await restore([
      '--table',
      'api_requests',
      '--table',
      'streaming_chunks',
      '--create-db',
      'part',
      '--db',
      urlOf('app'),
    ]);
    expect(restored.stderr).not.toMatch(/left out|error/i);
    expect(restored.code).toBe(0);
    expect(restored.stdout).toContain('tables: public.api_requests, public.streaming_chunks');
    const part = await tableChecksums(server.url('part'));
    expect(Object.keys(part).sort()).toEqual([
      'public.api_requests',
      'public.daily_usage',
      'public.streaming_chunks',
    ]);
    expect(part).toEqual(only(source, Object.keys(part)));
    const catalog = await describeDatabase(server.url('part'));
    for (const name of [
      'idx_requests_body',
      'idx_chunks_request_id',
      'streaming_chunks_request_id_fkey',
      'api_requests_parent_request_id_fkey',
      'daily_usage_day_model',
      'public.conversation_analysis_status',
      'public.trigger_set_timestamp',
    ])
      expect(catalog).toContain(name);
    expect(catalog).not.toContain('idx_audit_timestamp');
  });

  it('--table streaming_chunks leaves out the foreign key to api_requests and the view over it, naming both (exit 1)', async () => {
    const restored = await restore([
      '--table',
      'streaming_chunks',
      '--create-db',
      'chunks_only',
      '--db',
      urlOf('app'),
    ]);
    expect(restored.code).toBe(1);
    expect(restored.stderr.match(/^warning: .*$/gm)).toEqual([
      'warning: left out materialized view public.daily_usage: it needs public.api_requests, which is not restored (add --table public.api_requests to keep it)',
      'warning: left out foreign key public.streaming_chunks.streaming_chunks_request_id_fkey: it needs public.api_requests, which is not restored (add --table public.api_requests to keep it)',
    ]);
    const restoredSums = await tableChecksums(server.url('chunks_only'));
    expect(restoredSums).toEqual(only(source, ['public.streaming_chunks']));
  });

  it('into an empty --db, and --to-file writes the filtered script', async () => {
    await server.admin.createDatabase('empty');
    const restored = await restore(['--table', 'public.conversation_analyses', '--db', urlOf('empty')]);
    // The materialized view reads api_requests: it is the one thing left out.
    expect(restored.stderr.match(/^warning: .*$/gm)).toEqual([
      'warning: left out materialized view public.daily_usage: it needs public.api_requests, which is not restored (add --table public.api_requests to keep it)',
    ]);
    expect(restored.code).toBe(1);
    expect(await tableChecksums(server.url('empty'))).toEqual(only(source, ['public.conversation_analyses']));
    expect(await describeDatabase(server.url('empty'))).toContain('set_timestamp_on_conversation_analyses');

    const file = join(dir, 'analyses.sql');
    const written = await restore(['--table', 'conversation_analyses', '--to-file', file]);
    expect(written.code).toBe(1);
    const script = await readFile(file, 'utf8');
    expect(script).toContain('CREATE TABLE public.conversation_analyses');
    expect(script).toContain('COPY public.conversation_analyses');
    expect(script).not.toContain('CREATE TABLE public.api_requests');
    expect(script).not.toContain('COPY public.api_requests');
    // The filtered script is one psql script, like the whole one.
    await server.admin.createDatabase('via_psql');
    await run('psql', ['-X', '-q', '-1', '-v', 'ON_ERROR_STOP=1', '-d', urlOf('via_psql'), '-f', file], {
      env: { ...process.env, ...env },
    });
    expect(await tableChecksums(server.url('via_psql'))).toEqual(
      only(source, ['public.conversation_analyses']),
    );
  });

  it('--data-only puts only the rows and sequence values of the tables into a database that has the schema', async () => {
    const restored = await restore([
      '--table',
      'analysis_audit_log',
      '--table',
      'conversation_analyses',
      '--data-only',
      '--db',
      urlOf('existing'),
    ]);
    expect(restored.stderr).not.toMatch(/left out|error/i);
    expect(restored.code).toBe(0);
    const sums = await tableChecksums(server.url('existing'));
    expect(only(sums, ['public.analysis_audit_log', 'public.conversation_analyses'])).toEqual(
      only(source, ['public.analysis_audit_log', 'public.conversation_analyses']),
    );
    expect(sums['public.api_requests']).toBe(`0 rows ${sha256Empty}`);
    // The serial's sequence moved past the restored ids: a new row does not collide with them.
    await server.admin.exec(
      'existing',
      `INSERT INTO analysis_audit_log (event_type, outcome, conversation_id, branch_id, domain, request_id)
       VALUES ('new', 'ok', gen_random_uuid(), 'main', 'x', 'y')`,
    );
  });

  it('a name no table has is a usage error (exit 64) naming the tables of the backup; so is --data-only without --table', async () => {
    const unknown = await restore(['--table', 'orders', '--create-db', 'never', '--db', urlOf('app')]);
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toContain(
      '--table orders: the backup has no such table; its tables are: public.analysis_audit_log, public.api_requests, public.conversation_analyses, public.streaming_chunks',
    );
    const dataOnly = await restore(['--data-only', '--db', urlOf('existing')]);
    expect(dataOnly.code).toBe(64);
    expect(dataOnly.stderr).toContain('--data-only restores the rows of the tables named with --table');
    const databases = await server.admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'never%'",
    );
    expect(databases.rows).toEqual([]);
  });

  it('copy postgres --table restores one table straight from the live database (the other artifacts are dropped unread)', async () => {
    const copied = await runCli(
      ['copy', 'postgres', '--db', urlOf('app'), '--table', 'api_requests', '--create-db', 'copied'],
      { env },
    );
    expect(copied.stderr).not.toMatch(/left out|error/i);
    expect(copied.code).toBe(0);
    const sums = await tableChecksums(server.url('copied'));
    expect(Object.keys(sums).sort()).toEqual(['public.api_requests', 'public.daily_usage']);
    expect(sums).toEqual(only(source, Object.keys(sums)));
  });

  it('a backup of the single-artifact layout (database.sql, before per-table artifacts) is refused with --table, saying why (exit 64)', async () => {
    const oldRepo = join(dir, 'old-layout');
    const made = await runCli(
      ['backup', 'postgres', '--db', urlOf('app'), '--no-zstd', '--to', oldRepo, '--pipeline', 'db'],
      { env },
    );
    expect(made.code).toBe(0);
    const [manifestPath] = await findManifest(oldRepo);
    const folder = join(manifestPath as string, '..');
    const manifest = JSON.parse(await readFile(manifestPath as string, 'utf8')) as {
      artifacts: (ManifestArtifact & { meta: Record<string, unknown> })[];
    };
    // As earlier versions wrote it: one script, one artifact, its meta without `part` or `layout`.
    const script = Buffer.concat(
      await Promise.all(manifest.artifacts.map((artifact) => readFile(join(folder, artifact.file)))),
    );
    for (const artifact of manifest.artifacts) await rm(join(folder, artifact.file));
    await writeFile(join(folder, 'database.sql'), script);
    const digest = { bytes: script.length, sha256: createHash('sha256').update(script).digest('hex') };
    const { part: _part, layout: _layout, ...meta } = manifest.artifacts[0]?.meta ?? {};
    await writeFile(
      manifestPath as string,
      JSON.stringify({
        ...manifest,
        artifacts: [{ name: 'database.sql', file: 'database.sql', stored: digest, raw: digest, meta }],
      }),
    );

    const refused = await restore(
      ['--table', 'api_requests', '--create-db', 'from_old', '--db', urlOf('app')],
      oldRepo,
    );
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain(
      '--table needs a backup with per-table artifacts; this one is a single database.sql, made before them',
    );
    const whole = await restore(['--create-db', 'old_whole', '--db', urlOf('app')], oldRepo);
    expect(whole.code).toBe(0);
    expect(only(await tableChecksums(server.url('old_whole')), ['public.api_requests'])).toEqual(
      only(source, ['public.api_requests']),
    );
  });

  it('reads only the artifacts of the selected tables: a damaged data artifact of another table fails a full restore, naming it, but not --table', async () => {
    const damagedRepo = join(dir, 'damaged');
    await cp(repo, damagedRepo, { recursive: true });
    const [manifestPath] = await findManifest(damagedRepo);
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { artifacts: ManifestArtifact[] };
    const audit = manifest.artifacts.find((artifact) =>
      artifact.meta.tables?.includes('public.analysis_audit_log'),
    );
    expect(audit?.meta.tables).toEqual(['public.analysis_audit_log']);
    const file = join(manifestPath, '..', (audit as ManifestArtifact).file);
    const bytes = await readFile(file);
    bytes[0] ^= 0xff; // same size, so the backup is still listed: only reading it shows the damage
    await writeFile(file, bytes);

    const selective = await restore(
      ['--table', 'api_requests', '--create-db', 'requests_only', '--db', urlOf('app')],
      damagedRepo,
    );
    expect(selective.stderr).not.toMatch(/left out|error/i);
    expect(selective.code).toBe(0);
    expect(only(await tableChecksums(server.url('requests_only')), ['public.api_requests'])).toEqual(
      only(source, ['public.api_requests']),
    );

    const full = await restore(['--create-db', 'full', '--db', urlOf('app')], damagedRepo);
    expect(full.code).toBe(2);
    expect(full.stderr).toContain((audit as ManifestArtifact).file);
  });
});

const sha256Empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

async function findManifest(root: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  const found: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true }))
    if (entry.isFile() && entry.name === 'manifest.json') found.push(join(entry.parentPath, entry.name));
  return found;
}
