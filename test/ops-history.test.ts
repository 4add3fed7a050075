import { type AddressInfo, createServer } from 'node:net';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';
import { writeOpsProject } from './ops-support.js';

const PIPELINES = `
plugins: [./slow-source.mjs]
repositories:
  local: ./repo
pipelines:
  config:
    source: { use: files, paths: [.env] }
    to: [local]
  broken:
    source: { use: slow, fail: true }
    to: [local]
history: { db: "\${HISTORY_DATABASE_URL}" }
`;

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

interface HistoryTableRow {
  pipeline: string;
  backup_id: string | null;
  status: string;
  started_at: Date;
  finished_at: Date;
  duration_ms: string;
  bytes: string | null;
  destinations: { repository: string; ok: boolean }[];
  error: string | null;
}

describe('backup history in PostgreSQL', () => {
  it('records successful and failed runs in backup_history, created on first use, and lists them', async () => {
    // The admin connection reads the `postgres` database, so the history goes there.
    const db = server.url('postgres');
    const dir = await tempDir('history');
    const config = await writeOpsProject(dir, PIPELINES);
    const env = { HISTORY_DATABASE_URL: db };

    const run = await runCli(['run', '--config', config], { env });
    expect(run.code).toBe(2); // `broken` fails, `config` succeeds
    const adhoc = await runCli(
      ['backup', 'files', '.env', '--to', './repo', '--pipeline', 'adhoc', '--config', config],
      {
        cwd: dir,
        env,
      },
    );
    expect(adhoc.code).toBe(0);

    const recorded = (await server.admin.query<HistoryTableRow>('SELECT * FROM backup_history ORDER BY id'))
      .rows;

    const listed = JSON.parse((await runCli(['list', '--from', `${dir}/repo`, '--json'])).stdout).backups as {
      pipeline: string;
      id: string;
      bytes: number;
    }[];
    const good = listed.find((backup) => backup.pipeline === 'config');
    const adhocBackup = listed.find((backup) => backup.pipeline === 'adhoc');
    expect(recorded.map((row) => [row.pipeline, row.status])).toEqual([
      ['config', 'success'],
      ['broken', 'failure'],
      ['adhoc', 'success'],
    ]);
    const [configRow, brokenRow, adhocRow] = recorded as [HistoryTableRow, HistoryTableRow, HistoryTableRow];
    expect(configRow).toMatchObject({
      backup_id: good?.id,
      bytes: String(good?.bytes),
      destinations: [{ repository: 'local', ok: true }],
      error: null,
    });
    expect(Number(configRow.duration_ms)).toBe(
      configRow.finished_at.getTime() - configRow.started_at.getTime(),
    );
    expect(brokenRow).toMatchObject({
      backup_id: null,
      bytes: null,
      destinations: [{ repository: 'local', ok: false }],
    });
    expect(brokenRow.error).toContain('slow source failed on purpose');
    expect(adhocRow).toMatchObject({
      backup_id: adhocBackup?.id,
      destinations: [{ repository: `${dir}/repo`, ok: true }],
    });

    const history = await runCli(['history', '--config', config, '--json'], { env });
    expect(history.code).toBe(0);
    const runs = JSON.parse(history.stdout).runs as {
      pipeline: string;
      status: string;
      backupId: string | null;
    }[];
    expect(runs.map((entry) => entry.pipeline)).toEqual(['adhoc', 'broken', 'config']);

    const brokenOnly = await runCli(['history', 'broken', '--config', config], { env });
    expect(brokenOnly.code).toBe(0);
    const lines = brokenOnly.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^STARTED\s+PIPELINE\s+STATUS\s+ID\s+SIZE\s+DURATION\s+DESTINATIONS\s+ERROR$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(
      /\sbroken\s+failure\s+-\s+-\s+.*local \(failed\)\s+.*slow source failed on purpose/,
    );

    const limited = JSON.parse(
      (await runCli(['history', '--limit', '1', '--config', config, '--json'], { env })).stdout,
    );
    expect(limited.runs).toHaveLength(1);
  });

  it('an unreachable history database is a warning: the backup stands and no secret is printed', async () => {
    const dir = await tempDir('history-down');
    const config = await writeOpsProject(dir, PIPELINES);
    // A loopback port that was bound and released: nothing listens there any more.
    const listener = createServer();
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const { port } = listener.address() as AddressInfo;
    await new Promise((resolve) => listener.close(resolve));
    const url = `postgresql://backup:Sup3rSecretPw@127.0.0.1:${port}/history`;

    const run = await runCli(['run', 'config', '--config', config], { env: { HISTORY_DATABASE_URL: url } });
    expect(run.code).toBe(1);
    const where = `${new URL(url).host}/history`;
    expect(run.stderr).toContain(`history: could not record the run in ${where}: cannot connect (`);
    expect(run.stderr).not.toContain(new URL(url).password);
    const listed = JSON.parse((await runCli(['list', '--from', `${dir}/repo`, '--json'])).stdout);
    expect(listed.backups).toHaveLength(1);
  });

  it('once the table exists, a role granted only INSERT records runs (no CREATE needed)', async () => {
    const owner = await server.admin.createDatabase('history_grants');
    const dir = await tempDir('history-grants');
    const config = await writeOpsProject(dir, PIPELINES);
    expect(
      (await runCli(['run', 'config', '--config', config], { env: { HISTORY_DATABASE_URL: owner } })).code,
    ).toBe(0);
    await server.admin.query("CREATE ROLE history_writer LOGIN PASSWORD 'writer-pw'");
    await server.admin.exec(
      'history_grants',
      `REVOKE CREATE ON SCHEMA public FROM PUBLIC;
       GRANT INSERT ON backup_history TO history_writer;
       GRANT USAGE ON SEQUENCE backup_history_id_seq TO history_writer;`,
    );
    const writer = new URL(owner);
    writer.username = 'history_writer';
    writer.password = 'writer-pw';

    const run = await runCli(['run', 'config', '--config', config], {
      env: { HISTORY_DATABASE_URL: writer.href },
    });
    expect(run.stderr).not.toContain('history:');
    expect(run.code).toBe(0);
    const history = JSON.parse(
      (await runCli(['history', '--config', config, '--json'], { env: { HISTORY_DATABASE_URL: owner } }))
        .stdout,
    );
    expect(history.runs).toHaveLength(2);
  });

  it('history lists nothing (exit 0) before any run created the table', async () => {
    const db = await server.admin.createDatabase('history_empty');
    const dir = await tempDir('history-empty');
    const config = await writeOpsProject(dir, PIPELINES);
    const history = await runCli(['history', '--config', config, '--json'], {
      env: { HISTORY_DATABASE_URL: db },
    });
    expect(history.code).toBe(0);
    expect(JSON.parse(history.stdout)).toEqual({ runs: [] });
  });
});
