import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, REPO_ROOT, runCli, tempDir } from './helpers/cli.js';
import { type HttpListener, startHttpListener } from './ops-support.js';

// Restore drills through the real binary against a real PostgreSQL (NEXUS_TEST_PG_MAJOR picks the
// major; CI runs 13 and 18) and a real HTTP listener standing in for a Slack webhook.
const CONFIG = `
repositories:
  local: ./repo
pipelines:
  db:
    source: { use: postgres, db: "\${SOURCE_DB}" }
    to: [local]
    drill: { checks: ["select count(*) > 0 from api_requests", "select count(*) = 0 from analysis_audit_log where outcome = 'never'"] }
  owned:
    source: { use: postgres, db: "\${OWNED_DB}", owners: true }
    to: [local]
  slow:
    source: { use: postgres, db: "\${SOURCE_DB}" }
    to: [local]
    drill: { checks: ["select pg_sleep(600) is not null"] }
  config:
    source: { use: files, paths: [conf] }
    to: [local]
notify:
  - { url: "\${HOOK_URL}", on: [success, failure] }
history: { db: "\${HISTORY_DB}" }
`;

interface HistoryRow {
  pipeline: string;
  kind: string;
  status: string;
  backup_id: string | null;
  bytes: string | null;
  error: string | null;
}

interface DrillJson {
  pipeline: string;
  backupId: string | null;
  ok: boolean;
  error: string | null;
  restoreMs?: number;
  bytesRestored?: number;
  checks?: { name: string; ok: boolean; expected?: unknown; actual?: unknown }[];
  notes?: string[];
}

let server: PostgresServer;
let hook: HttpListener;
let dir: string;
let config: string;
let env: NodeJS.ProcessEnv;
/** seed_sample_service(200, 3) writes one api_requests row per request. */
const API_REQUESTS = 200;

/** The scratch databases on the server: a drill must leave none, whatever happened. */
async function scratchDatabases(): Promise<string[]> {
  const { rows } = await server.admin.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname LIKE 'nexus\\_drill\\_%' ORDER BY 1",
  );
  return rows.map((row) => row.datname);
}

async function drillRows(pipeline: string): Promise<HistoryRow[]> {
  return (
    await server.admin.query<HistoryRow>(
      "SELECT * FROM backup_history WHERE kind = 'drill' AND pipeline = $1 ORDER BY id",
      [pipeline],
    )
  ).rows;
}

async function drillJson(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const result = await runCli(['drill', ...args, '--config', config, '--json'], {
    cwd: dir,
    env: { ...env, ...extraEnv },
  });
  const drills = result.stdout ? (JSON.parse(result.stdout).drills as DrillJson[]) : [];
  return { ...result, drills };
}

async function manifestPath(pipeline: string): Promise<string> {
  const [id] = (await readdir(join(dir, 'repo', pipeline))).sort().reverse();
  return join(dir, 'repo', pipeline, id as string, 'manifest.json');
}

beforeAll(async () => {
  server = await startPostgres();
  hook = await startHttpListener();
  dir = await tempDir('drill');
  await server.admin.createDatabase('app');
  const sample = join(REPO_ROOT, 'examples/sample-service');
  await server.admin.exec('app', await readFile(join(sample, 'schema.sql'), 'utf8'));
  await server.admin.exec('app', await readFile(join(sample, 'seed.sql'), 'utf8'));
  await server.admin.exec('app', 'SELECT seed_sample_service(200, 3)');
  await mkdir(join(dir, 'conf', 'sub'), { recursive: true });
  await writeFile(join(dir, 'conf', 'app.env'), 'MODE=production\n');
  await chmod(join(dir, 'conf', 'app.env'), 0o640);
  await writeFile(join(dir, 'conf', 'sub', 'run.sh'), '#!/bin/sh\necho up\n');
  await chmod(join(dir, 'conf', 'sub', 'run.sh'), 0o750);
  config = join(dir, 'nexus-backup.yaml');
  await writeFile(config, CONFIG);
  env = {
    PGPASSWORD: server.password,
    SOURCE_DB: server.url('app'),
    OWNED_DB: server.url('owned'),
    HOOK_URL: `${hook.url}/hook`,
    // The admin connection reads the `postgres` database, so the history goes there.
    HISTORY_DB: server.url('postgres'),
  };
  const backup = await runCli(['run', 'db', 'slow', 'config', '--config', config], { cwd: dir, env });
  expect(backup.code).toBe(0);
});

afterAll(async () => {
  await hook?.close();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface StoredArtifact {
  raw: { bytes: number };
  meta: { rows?: Record<string, number>; [key: string]: unknown };
}

/** The row counts of a backup: the union of its data artifacts' (per-table layout). */
function recordedRowsOf(manifest: { artifacts: StoredArtifact[] }): Record<string, number> {
  return Object.assign({}, ...manifest.artifacts.map((artifact) => artifact.meta.rows ?? {}));
}

/** What a drill streams into its restore: every artifact's decoded bytes. */
function rawBytesOf(manifest: { artifacts: StoredArtifact[] }): number {
  return manifest.artifacts.reduce((total, artifact) => total + artifact.raw.bytes, 0);
}

/** The data artifact whose rows hold `table`. */
function dataArtifactOf(
  manifest: { artifacts: StoredArtifact[] },
  table: string,
): StoredArtifact & { meta: { rows: Record<string, number> } } {
  const found = manifest.artifacts.find((artifact) => artifact.meta.rows && table in artifact.meta.rows);
  if (!found) throw new Error(`no artifact has rows of ${table}`);
  return found as StoredArtifact & { meta: { rows: Record<string, number> } };
}

describe('nexus-backup drill', () => {
  it('drills a good postgres backup green: rows and objects as recorded, checks true, restore time and bytes reported, nothing left', async () => {
    // A scratch database a killed drill left behind is dropped by the next drill on that server.
    await server.admin.query('CREATE DATABASE nexus_drill_db_20200101000000_abcdef');
    const serverUrl = `postgresql://${server.user}@${server.host}:${server.port}/postgres`;
    const before = hook.requests.length;

    const drill = await drillJson(['db@latest', '--from', 'local', '--db', serverUrl]);

    expect(drill.stderr).toContain('dropped the scratch database "nexus_drill_db_20200101000000_abcdef"');
    expect(drill.code).toBe(0);
    const [result] = drill.drills;
    const manifest = JSON.parse(await readFile(await manifestPath('db'), 'utf8'));
    const recordedRows = recordedRowsOf(manifest);
    expect(result).toMatchObject({ pipeline: 'db', backupId: manifest.id, ok: true, error: null });
    expect(result?.bytesRestored).toBe(rawBytesOf(manifest));
    expect(typeof result?.restoreMs).toBe('number');
    const rowChecks = result?.checks?.filter((check) => check.name.startsWith('rows ')) ?? [];
    expect(rowChecks.map((check) => check.name).sort()).toEqual(
      Object.keys(recordedRows)
        .map((table) => `rows ${table}`)
        .sort(),
    );
    expect(rowChecks.every((check) => check.ok && check.actual === check.expected)).toBe(true);
    expect(rowChecks.find((check) => check.name === 'rows public.api_requests')).toEqual({
      name: 'rows public.api_requests',
      ok: true,
      expected: API_REQUESTS,
      actual: API_REQUESTS,
    });
    expect(result?.checks).toContainEqual({
      name: 'objects table',
      ok: true,
      expected: manifest.artifacts[0].meta.objects.table,
      actual: manifest.artifacts[0].meta.objects.table,
    });
    expect(result?.checks).toContainEqual({
      name: 'check select count(*) > 0 from api_requests',
      ok: true,
      actual: true,
    });
    expect(result?.notes).toEqual([]);
    expect(await scratchDatabases()).toEqual([]);

    const [row] = await drillRows('db');
    expect(row).toMatchObject({ kind: 'drill', status: 'success', backup_id: manifest.id, error: null });
    expect(Number(row?.bytes)).toBe(rawBytesOf(manifest));
    const message = hook.requests.slice(before).map((request) => JSON.parse(request.body).text as string);
    expect(message).toHaveLength(1);
    expect(message[0]).toMatch(new RegExp(`^nexus-backup: db restore drill of ${manifest.id} succeeded`));
  });

  it('a restored row count or object count that differs from the manifest fails the drill (exit 2, each difference named), with a failed history row, a failure notification and no scratch database', async () => {
    // A copy of the newest db backup whose manifest claims one more api_requests row than was dumped.
    const original = await manifestPath('db');
    const manifest = JSON.parse(await readFile(original, 'utf8'));
    const id = manifest.id.replace(/-[0-9a-f]{6}$/, '-d1ff00');
    const copy = join(dir, 'repo', 'db', id);
    await mkdir(copy);
    for (const artifact of manifest.artifacts) {
      await writeFile(join(copy, artifact.file), await readFile(join(original, '..', artifact.file)));
    }
    manifest.id = id;
    dataArtifactOf(manifest, 'public.api_requests').meta.rows['public.api_requests'] = API_REQUESTS + 1;
    // ...and one materialized view more than the sample service has (daily_usage).
    manifest.artifacts[0].meta.objects['materialized view'] = 2;
    await writeFile(join(copy, 'manifest.json'), JSON.stringify(manifest, null, 2));
    const before = hook.requests.length;

    const drill = await drillJson([`db@${id}`, '--from', 'local']);

    expect(drill.code).toBe(2);
    const rowsReason = `table public.api_requests has ${API_REQUESTS} rows after the restore, the backup recorded ${API_REQUESTS + 1}`;
    const objectsReason = '1 materialized view object(s) after the restore, the backup recorded 2';
    const reason = `${rowsReason}; ${objectsReason}`;
    expect(drill.drills[0]).toMatchObject({ pipeline: 'db', backupId: id, ok: false, error: reason });
    expect(drill.drills[0]?.checks).toContainEqual({
      name: 'rows public.api_requests',
      ok: false,
      expected: API_REQUESTS + 1,
      actual: API_REQUESTS,
      problem: rowsReason,
    });
    expect(drill.drills[0]?.checks).toContainEqual({
      name: 'objects materialized view',
      ok: false,
      expected: 2,
      actual: 1,
      problem: objectsReason,
    });
    expect(await scratchDatabases()).toEqual([]);
    expect((await drillRows('db')).at(-1)).toMatchObject({ status: 'failure', backup_id: id, error: reason });
    const texts = hook.requests.slice(before).map((request) => JSON.parse(request.body).text as string);
    expect(texts).toEqual([expect.stringContaining(`db restore drill of ${id} FAILED`)]);
    expect(texts[0]).toContain(reason);
    await rm(copy, { recursive: true });
  });

  it('a backup made before object counts were recorded drills green on what it can check, and says what it could not', async () => {
    const original = await manifestPath('db');
    const manifest = JSON.parse(await readFile(original, 'utf8'));
    const id = manifest.id.replace(/-[0-9a-f]{6}$/, '-01d000');
    const copy = join(dir, 'repo', 'db', id);
    await mkdir(copy);
    for (const artifact of manifest.artifacts) {
      await writeFile(join(copy, artifact.file), await readFile(join(original, '..', artifact.file)));
    }
    manifest.id = id;
    delete manifest.artifacts[0].meta.objects;
    await writeFile(join(copy, 'manifest.json'), JSON.stringify(manifest, null, 2));

    const drill = await runCli(['drill', `db@${id}`, '--from', 'local', '--config', config], {
      cwd: dir,
      env,
    });

    expect(drill.code).toBe(0);
    const lines = drill.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      new RegExp(
        `^ok {4}db@${id}: restored \\S+ \\S+ in \\S+, 4 table\\(s\\), \\d+ row\\(s\\), \\d+ check\\(s\\) matched$`,
      ),
    );
    expect(lines.slice(1)).toEqual([
      '      note: object counts were not recorded at backup time (an older nexus-backup): not compared',
    ]);
    await rm(copy, { recursive: true });
  });

  it('a backup whose restore fails fails the drill (exit 2, the database error named), with a failed history row, a failure notification and no scratch database', async () => {
    // Owners are cluster-wide: a backup taken with --owners cannot restore once its owner role is gone.
    await server.admin.query('CREATE ROLE drill_owner');
    await server.admin.createDatabase('owned');
    await server.admin.exec('owned', 'CREATE TABLE kept (id int); ALTER TABLE kept OWNER TO drill_owner;');
    expect((await runCli(['run', 'owned', '--config', config], { cwd: dir, env })).code).toBe(0);
    await server.admin.dropDatabase('owned');
    await server.admin.query('DROP ROLE drill_owner');
    const before = hook.requests.length;

    // The source database is gone too, so the drill names a server to restore on.
    const serverUrl = `postgresql://${server.user}@${server.host}:${server.port}/postgres`;
    const drill = await drillJson(['owned', '--from', 'local', '--db', serverUrl]);

    expect(drill.code).toBe(2);
    expect(drill.drills[0]?.ok).toBe(false);
    expect(drill.drills[0]?.error).toContain('role "drill_owner" does not exist');
    expect(await scratchDatabases()).toEqual([]);
    const [row] = await drillRows('owned');
    expect(row?.status).toBe('failure');
    expect(row?.error).toContain('role "drill_owner" does not exist');
    const texts = hook.requests.slice(before).map((request) => JSON.parse(request.body).text as string);
    expect(texts).toEqual([
      expect.stringMatching(/^nexus-backup: owned restore drill of \S+ FAILED .*drill_owner/),
    ]);
  });

  it('drills a credentials backup: every file back 0600 and every JSON file parsed', async () => {
    const credentials = join(dir, 'credentials');
    await mkdir(credentials);
    await writeFile(join(credentials, 'service.json'), '{"type":"service_account","key":"not-a-real-key"}');
    await writeFile(join(credentials, 'token.json'), '{"token":"not-a-real-token"}');
    const backup = await runCli(
      ['backup', 'credentials', '--dir', credentials, '--encrypt', '--to', './repo', '--pipeline', 'creds'],
      { cwd: dir, env: { ...env, NEXUS_BACKUP_PASSPHRASE: 'drill test passphrase' } },
    );
    expect(backup.code).toBe(0);

    const drill = await drillJson(['creds', '--from', 'local'], {
      NEXUS_BACKUP_PASSPHRASE: 'drill test passphrase',
    });

    expect(drill.code).toBe(0);
    expect(drill.drills[0]?.checks).toEqual([
      { name: 'files', ok: true, expected: 2, actual: 2 },
      { name: 'bytes', ok: true, expected: 77, actual: 77 },
      { name: 'modes', ok: true, actual: 2 },
      { name: 'json', ok: true, actual: 2 },
    ]);
  });

  it('SIGTERM during a drill stops it and drops its scratch database (exit 2)', async () => {
    // The `slow` pipeline's check sleeps, so the drill is caught with its scratch database restored.
    const child = spawn(process.execPath, [CLI_BIN, 'drill', 'slow', '--from', 'local', '--config', config], {
      cwd: dir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    let sleeping = false;
    while (!sleeping && child.exitCode === null) {
      const { rows } = await server.admin.query(
        "SELECT 1 FROM pg_stat_activity WHERE datname LIKE 'nexus\\_drill\\_slow\\_%' AND query LIKE '%pg_sleep%'",
      );
      sleeping = rows.length > 0;
      if (!sleeping) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(sleeping).toBe(true);
    child.kill('SIGTERM');

    expect(await exited).toBe(2);
    expect(stderr).toContain('interrupted');
    expect(await scratchDatabases()).toEqual([]);
  });

  it('drills a files backup into a temp folder: every file back with its recorded mode, the folder removed', async () => {
    const scratchParent = join(dir, 'tmp');
    await mkdir(scratchParent);

    const drill = await drillJson(['config@latest', '--from', 'local'], { TMPDIR: scratchParent });

    expect(drill.code).toBe(0);
    expect(drill.drills[0]).toMatchObject({ pipeline: 'config', ok: true });
    expect(drill.drills[0]?.checks).toEqual([
      { name: 'files', ok: true, expected: 2, actual: 2 },
      { name: 'bytes', ok: true, expected: 34, actual: 34 },
      { name: 'modes', ok: true, actual: 2 },
    ]);
    expect(await readdir(scratchParent)).toEqual([]);
    expect((await drillRows('config')).at(-1)).toMatchObject({ status: 'success' });
  });

  it('drill --config drills the latest backup of every postgres and files pipeline it names', async () => {
    const drill = await drillJson(['db', 'config']);
    expect(drill.code).toBe(0);
    expect(drill.drills.map((result) => [result.pipeline, result.ok])).toEqual([
      ['db', true],
      ['config', true],
    ]);
    expect(await scratchDatabases()).toEqual([]);
  });

  it('check --max-drill-age passes with a recent successful drill and fails (exit 2) with none or only an old one', async () => {
    // `db` drilled green above; `owned` only failed; `slow` gets a successful drill of 40 days ago.
    await server.admin.query(
      `INSERT INTO backup_history (pipeline, status, started_at, finished_at, duration_ms, destinations, host, tool_version, kind)
       VALUES ('slow', 'success', now() - interval '40 days', now() - interval '40 days', 1000, '[]', 'elsewhere', '0', 'drill')`,
    );
    const check = (pipelines: string[]) =>
      runCli(
        [
          'check',
          ...pipelines,
          '--from',
          'local',
          '--max-age',
          '1h',
          '--max-drill-age',
          '35d',
          '--config',
          config,
        ],
        {
          cwd: dir,
          env,
        },
      );

    const fresh = await check(['db', 'config']);
    expect(fresh.stdout).toContain('ok    db: newest backup');
    expect(fresh.code).toBe(0);

    const missing = await check(['owned']);
    expect(missing.code).toBe(2);
    expect(missing.stdout).toContain('FAIL  owned: no successful restore drill recorded (required within');

    const stale = await check(['slow']);
    expect(stale.code).toBe(2);
    expect(stale.stdout).toMatch(/FAIL {2}slow: last successful restore drill was \S.* ago \(max /);
  });

  it("schedule runs a pipeline's drill.schedule and logs each drill as a drill-finished event", async () => {
    const scheduleConfig = join(dir, 'schedule.yaml');
    await writeFile(
      scheduleConfig,
      `repositories:\n  local: ./repo\npipelines:\n  config:\n    source: { use: files, paths: [conf] }\n    to: [local]\n    drill: { schedule: "* * * * * *" }\n`,
    );
    const child = spawn(process.execPath, [CLI_BIN, 'schedule', '--config', scheduleConfig, '--json'], {
      cwd: dir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const events: { event: string; [field: string]: unknown }[] = [];
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        events.push(JSON.parse(line));
        if (events.some((event) => event.event === 'drill-finished')) resolve();
      });
      exited.then((code) => reject(new Error(`the scheduler exited (${code}) before a drill finished`)));
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    expect(events[0]).toMatchObject({
      event: 'drill-scheduled',
      pipeline: 'config',
      schedule: '* * * * * *',
    });
    const manifest = JSON.parse(await readFile(await manifestPath('config'), 'utf8'));
    expect(events.find((event) => event.event === 'drill-finished')).toMatchObject({
      pipeline: 'config',
      status: 'success',
      exitCode: 0,
      backupId: manifest.id,
      bytesRestored: rawBytesOf(manifest),
    });
  });
});
