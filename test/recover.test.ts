import { execFile, spawn } from 'node:child_process';
import { appendFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, REPO_ROOT, runCli, tempDir } from './helpers/cli.js';
import { type HttpListener, startHttpListener } from './ops-support.js';

const SERVICE = join(REPO_ROOT, 'test/fixtures/recover-service.mjs');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

// The guide's recovery, end to end: a real PostgreSQL, a real service process that the plan's stop and
// start commands really stop and start, and a /health that reads the database and a credential file.
describe('recover: restore beside, swap in, restart, health-check, roll back', () => {
  let server: PostgresServer;
  let webhook: HttpListener;
  let dir: string;
  let serviceDir: string;
  let port: number;
  let env: NodeJS.ProcessEnv;

  const sql = (database: string, text: string) => server.admin.exec(database, text);
  const health = async (): Promise<{ state: string; key: string; env: string } | undefined> => {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      return response.ok
        ? ((await response.json()) as { state: string; key: string; env: string })
        : undefined;
    } catch {
      return undefined;
    }
  };
  const psql = (database: string, text: string): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile('psql', [server.url(database), '-XtAc', text], (error, stdout) =>
        error ? reject(error) : resolve(stdout.trim()),
      );
    });
  const databases = async (): Promise<string[]> =>
    (await psql('postgres', "SELECT datname FROM pg_database WHERE datname LIKE 'app%' ORDER BY 1"))
      .split('\n')
      .filter(Boolean);
  const appState = (database = 'app'): Promise<string> => psql(database, 'SELECT value FROM app_state');
  const recover = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    runCli(['recover', '--config', join(serviceDir, 'nexus-backup.yaml'), ...args], {
      cwd: serviceDir,
      env: { ...env, ...extraEnv },
    });

  /** The live state the service serves: database row, credential key and .env line, all one version. */
  async function setLiveState(version: string): Promise<void> {
    await sql('app', `UPDATE app_state SET value = '${version}'`);
    await writeFile(
      join(serviceDir, 'credentials', 'api.credentials.json'),
      JSON.stringify({ key: `key-${version}` }),
    );
    await writeFile(join(serviceDir, '.env'), `MODE=${version}\n`);
  }

  async function writeConfig(checks: string): Promise<void> {
    await writeFile(
      join(serviceDir, 'nexus-backup.yaml'),
      `repositories:
  local: ${join(dir, 'repo')}
pipelines:
  database:
    source: { use: postgres, db: "\${DATABASE_URL}" }
    transforms: [ { use: gzip }, { use: aes } ]
    to: [ local ]
  credentials:
    source: { use: credentials, dir: ./credentials }
    transforms: [ { use: aes } ]
    to: [ local ]
  config:
    source: { use: files, paths: [ .env ] }
    to: [ local ]
notify:
  - { url: "${webhook.url}/hook", on: [ success, failure ] }
history: { db: "\${HISTORY_URL}" }
recovery:
  stop:  [ "echo stop >> stops.log; [ -f service.pid ] && kill $(cat service.pid) && while kill -0 $(cat service.pid) 2>/dev/null; do sleep 0.05; done; rm -f service.pid" ]
  start: [ "nohup node ${SERVICE} > service.log 2>&1 & for i in $(seq 100); do [ -f service.pid ] && exit 0; sleep 0.05; done; exit 1" ]
  restore:
    - { pipeline: database }
    - { pipeline: credentials, toDir: ./credentials }
    - { pipeline: config, toDir: . }
  checks:
${checks}
  timeout: 10s
  interval: 1s
`,
    );
  }
  const defaultChecks = `    - { http: "http://127.0.0.1:PORT/health", status: 200 }
    - { sql: "select count(*) = 1 from app_state" }
    - { command: "test -f credentials/api.credentials.json" }`;

  async function startService(): Promise<void> {
    await runShell(
      `nohup node ${SERVICE} > service.log 2>&1 & for i in $(seq 100); do [ -f service.pid ] && exit 0; sleep 0.05; done; exit 1`,
    );
  }
  async function stopService(): Promise<void> {
    await runShell('[ -f service.pid ] && kill $(cat service.pid); rm -f service.pid; true');
  }
  function runShell(command: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', command], {
        cwd: serviceDir,
        env: { ...process.env, ...env },
        stdio: 'ignore',
      });
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}`))));
    });
  }

  beforeAll(async () => {
    server = await startPostgres();
    webhook = await startHttpListener();
    dir = await tempDir('recover');
    serviceDir = join(dir, 'service');
    await mkdir(join(serviceDir, 'credentials'), { recursive: true });
    port = await freePort();
    await server.admin.createDatabase('app');
    await server.admin.createDatabase('history');
    await sql('app', 'CREATE TABLE app_state (value text NOT NULL)');
    await sql('app', "INSERT INTO app_state VALUES ('v1')");
    env = {
      PGPASSWORD: server.password,
      DATABASE_URL: `postgresql://${server.user}@${server.host}:${server.port}/app`,
      HISTORY_URL: `postgresql://${server.user}@${server.host}:${server.port}/history`,
      NEXUS_BACKUP_PASSPHRASE: 'recover test passphrase',
      SERVICE_PORT: String(port),
      // A service started by a run that a chaos test killed can lose its pid file; it exits with us.
      SERVICE_OWNER_PID: String(process.pid),
    };
    await writeConfig(defaultChecks.replace('PORT', String(port)));
    await setLiveState('v1');
    const backup = await runCli(['run', '--config', join(serviceDir, 'nexus-backup.yaml')], {
      cwd: serviceDir,
      env,
    });
    expect(backup.stderr).not.toMatch(/warning|error/);
    expect(backup.code).toBe(0);
    await startService();
  });

  afterAll(async () => {
    if (serviceDir) await stopService().catch(() => undefined);
    await webhook?.close();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('--dry-run names one backup per pipeline and the live targets, and changes nothing', async () => {
    const result = await recover(['--dry-run', '--json']);
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout);
    expect(plan.outcome).toBe('planned');
    expect(plan.items.map((item: { pipeline: string }) => item.pipeline)).toEqual([
      'database',
      'credentials',
      'config',
    ]);
    expect(plan.items[0].live).toBe(`database app on ${server.host}:${server.port}`);
    expect(result.stdout + result.stderr).not.toContain(server.password);
    expect(await databases()).toEqual(['app']);
  });

  it('recovers the backed-up state, keeps the old one aside, reports timings, history and a webhook', async () => {
    await setLiveState('v2');
    expect((await health())?.state).toBe('v2');
    const result = await recover(['--json']);
    const report = JSON.parse(result.stdout);
    expect(report.error).toBeUndefined();
    expect(result.code).toBe(0);
    expect(report.outcome).toBe('recovered');
    expect(report.steps.map((step: { name: string }) => step.name)).toEqual(
      expect.arrayContaining([
        'choose backups',
        'verify and decrypt',
        'stop the service',
        'swap in',
        'start the service',
        'health checks',
      ]),
    );
    expect(report.steps.every((step: { ms: number }) => Number.isInteger(step.ms))).toBe(true);
    expect(await health()).toEqual({ state: 'v1', key: 'key-v1', env: 'MODE=v1' });

    const aside = (await databases()).find((name) => name.startsWith('app_before_recovery_'));
    expect(aside).toBeDefined();
    expect(await appState(aside)).toBe('v2');
    const folders = await readdir(dir + '/service');
    const credentialsAside = folders.find((name) => name.startsWith('credentials_before_recovery_'));
    expect(
      JSON.parse(
        await readFile(join(serviceDir, credentialsAside as string, 'api.credentials.json'), 'utf8'),
      ),
    ).toEqual({ key: 'key-v2' });
    const configAside = folders.find((name) => name.startsWith('_before_recovery_'));
    expect(await readFile(join(serviceDir, configAside as string, '.env'), 'utf8')).toBe('MODE=v2\n');

    expect(
      await psql(
        'history',
        "SELECT kind || ' ' || pipeline || ' ' || status FROM backup_history WHERE kind = 'recovery'",
      ),
    ).toBe('recovery database,credentials,config success');
    expect(webhook.requests.some((request) => request.body.includes('recovered'))).toBe(true);
  });

  it('--undo swaps the previous state back', async () => {
    const result = await recover(['--undo']);
    expect(result.stderr).toContain('undone');
    expect(result.code).toBe(0);
    expect(await health()).toEqual({ state: 'v2', key: 'key-v2', env: 'MODE=v2' });
  });

  it('a wrong passphrase fails before the service is stopped', async () => {
    const stopsBefore = await readFile(join(serviceDir, 'stops.log'), 'utf8').catch(() => '');
    const databasesBefore = await databases();
    const result = await recover([], { NEXUS_BACKUP_PASSPHRASE: 'wrong' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/verify and decrypt/);
    expect(await readFile(join(serviceDir, 'stops.log'), 'utf8').catch(() => '')).toBe(stopsBefore);
    expect((await health())?.state).toBe('v2');
    expect(await databases()).toEqual(databasesBefore);
  });

  it('a missing pipeline in the plan is a config error before anything runs', async () => {
    const config = join(serviceDir, 'nexus-backup.yaml');
    const text = await readFile(config, 'utf8');
    await writeFile(
      join(serviceDir, 'broken.yaml'),
      text.replace('- { pipeline: config, toDir: . }', '- { pipeline: konfig, toDir: . }'),
    );
    const result = await runCli(['recover', '--config', join(serviceDir, 'broken.yaml')], {
      cwd: serviceDir,
      env,
    });
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('recovery.restore[2].pipeline');
    expect((await health())?.state).toBe('v2');
  });

  it('a health check failing after the swap rolls back to the old state and restarts it', async () => {
    await writeConfig(
      `${defaultChecks.replace('PORT', String(port))}\n    - { sql: "select value = 'never' from app_state" }`,
    );
    try {
      const result = await recover(['--json']);
      const report = JSON.parse(result.stdout);
      expect(result.code).toBe(2);
      expect(report.outcome).toBe('rolled back');
      expect(report.failedStep).toBe('health checks');
      expect(await health()).toEqual({ state: 'v2', key: 'key-v2', env: 'MODE=v2' });
    } finally {
      await writeConfig(defaultChecks.replace('PORT', String(port)));
    }
  });

  it('kill -9 at any moment, then a re-run: the database name always exists with the old or the new state', async () => {
    // `pnpm test:chaos` (NEXUS_CHAOS=full) kills at many more moments.
    const delays =
      process.env.NEXUS_CHAOS === 'full'
        ? Array.from({ length: 20 }, (_, i) => 100 + i * 170)
        : [300, 1500, 2600];
    for (const delayMs of delays) {
      await setLiveState('v3');
      const child = spawn(
        process.execPath,
        [CLI_BIN, 'recover', '--config', join(serviceDir, 'nexus-backup.yaml')],
        {
          cwd: serviceDir,
          env: { ...process.env, ...env },
          stdio: 'ignore',
        },
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.on('close', resolve));
      expect(await databases()).toContain('app');
      expect(['v1', 'v3']).toContain(await appState());
      const rerun = await recover([]);
      expect([0, 2]).toContain(rerun.code);
      expect(['v1', 'v3']).toContain(await appState());
      await appendFile(join(dir, 'kills.log'), `${delayMs}: ${rerun.code}\n`);
      if (!(await health())) await startService();
    }
  });
});
