// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the config file's own ${VAR} syntax
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { type S3Server, startS3Server } from '@nexus-backup/testkit/s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, REPO_ROOT, runCli, tempDir } from './helpers/cli.js';

/**
 * Secrets planted in the environment (the database password in DATABASE_URL and PGPASSWORD, the
 * encryption passphrase, an S3 secret key, a webhook token) must never show up in anything a command
 * prints: text, `--json`, `-v` debug lines, warnings or error paths.
 */
describe('no secret from the environment appears in any output', () => {
  let server: PostgresServer;
  let s3: S3Server;
  let work: string;
  let secrets: Record<string, string>;
  let env: NodeJS.ProcessEnv;
  const outputs: { args: string[]; result: CliResult }[] = [];
  const local = () => join(work, 'repo');
  const s3Repo = () =>
    `s3://${s3.bucket}/nexus?region=${s3.region}&endpoint=${s3.endpoint}&forcePathStyle=true`;

  /** Runs a command and keeps its output for the grep at the end. */
  async function run(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    const result = await runCli(args, { cwd: work, env: { ...env, ...extraEnv } });
    outputs.push({ args, result });
    return result;
  }

  beforeAll(async () => {
    [server, s3] = await Promise.all([startPostgres(), startS3Server({ kind: 'fauxqs' })]);
    work = await tempDir('secrets');
    await server.admin.createDatabase('app');
    const sample = join(REPO_ROOT, 'examples/sample-service');
    await server.admin.exec('app', await readFile(join(sample, 'schema.sql'), 'utf8'));
    await server.admin.exec('app', await readFile(join(sample, 'seed.sql'), 'utf8'));
    await server.admin.exec('app', 'SELECT seed_sample_service(20, 2)');
    secrets = {
      database: server.password,
      passphrase: 'planted-passphrase-5b1d0e',
      s3: 'planted-s3-secret-9f27aa',
      webhook: 'planted-webhook-token-3c8e41',
    };
    env = {
      DATABASE_URL: `${server.url('app')}?sslmode=disable`,
      PGPASSWORD: server.password,
      NEXUS_BACKUP_PASSPHRASE: secrets.passphrase,
      AWS_ACCESS_KEY_ID: 'planted-access-key-id',
      AWS_SECRET_ACCESS_KEY: secrets.s3,
      HOOK: `http://127.0.0.1:1/hooks/${secrets.webhook}`,
    };
    await writeFile(
      join(work, 'ops.yaml'),
      [
        'pipelines:',
        '  db:',
        '    source: { use: postgres, db: "${DATABASE_URL}" }',
        '    transforms: [ gzip, aes ]',
        '    to: [ ./repo ]',
        'notify:',
        '  - { url: "${HOOK}", on: [ success, failure ] }',
        'history: { db: "${DATABASE_URL}" }',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await Promise.allSettled([
      server?.stop(),
      s3?.stop(),
      work && rm(work, { recursive: true, force: true }),
    ]);
  });

  it('runs every command, success and failure paths, with the secrets planted', async () => {
    const backedUp = await run([
      '-v',
      'backup',
      'postgres',
      '--encrypt',
      '--to',
      local(),
      '--to',
      s3Repo(),
      '--pipeline',
      'db',
    ]);
    expect(backedUp.code, backedUp.stderr).toBe(0);
    for (const json of [[], ['--json']]) {
      expect((await run(['list', '--from', local(), ...json])).code).toBe(0);
      expect((await run(['list', '--from', s3Repo(), ...json])).code).toBe(0);
      expect((await run(['verify', '--from', local(), ...json])).code).toBe(0);
      const dryRun = await run(['restore', 'db@latest', '--from', local(), '--dry-run', ...json]);
      expect(dryRun.code, dryRun.stderr).toBe(0);
      expect(`${dryRun.stdout}${dryRun.stderr}`).toContain(`${server.user}:***@`);
      expect((await run(['check', '--from', local(), '--max-age', '1h', ...json])).code).toBe(0);
      expect((await run(['prune', '--from', local(), '--keep-last', '5', '--dry-run', ...json])).code).toBe(
        0,
      );
    }
    expect(
      (await run(['restore', 'db@latest', '--from', local(), '--to-file', join(work, 'db.sql'), '--json']))
        .code,
    ).toBe(0);
    const created = await run([
      'restore',
      'db@latest',
      '--from',
      s3Repo(),
      '--create-db',
      'app_restored',
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect((await run(['copy', 'postgres', '--create-db', 'app_copy', '--json'])).code).toBe(0);
    expect((await run(['-v', 'run', '--config', 'ops.yaml'])).code).toBe(1); // the webhook is unreachable: a warning
    expect((await run(['history', '--config', 'ops.yaml', '--json'])).code).toBe(0);
    expect((await run(['config', 'check', '--config', 'ops.yaml', '--json'])).code).toBe(0);
    expect((await run(['check', '--from', local(), '--max-age', '1h', '--notify-env', 'HOOK'])).code).toBe(0);

    // Error paths: wrong passphrase, wrong database password, unreachable server, unreachable S3.
    const wrongPassphrase = await run(
      ['restore', 'db@latest', '--from', local(), '--to-file', join(work, 'x.sql')],
      {
        NEXUS_BACKUP_PASSPHRASE: `${secrets.passphrase}-wrong`,
      },
    );
    expect(wrongPassphrase.code).toBe(2);
    const wrongPassword = await run(['backup', 'postgres', '--to', local()], {
      DATABASE_URL: server.url('app').replace(server.password, `${server.password}x`),
      PGPASSWORD: `${server.password}x`,
    });
    expect(wrongPassword.code).toBe(2);
    const unreachable = await run(['backup', 'postgres', '--to', local()], {
      DATABASE_URL: `postgresql://${server.user}:${server.password}@127.0.0.1:1/app?sslpassword=${secrets.database}`,
    });
    expect(unreachable.code).toBe(2);
    const noSuchDatabase = await run(['restore', 'db@latest', '--from', local(), '--dry-run', '--json'], {
      DATABASE_URL: server.url('nosuch'),
    });
    expect(noSuchDatabase.code).toBe(0);
    const s3Down = await run([
      'list',
      '--from',
      s3Repo().replace(s3.endpoint, 'http://127.0.0.1:1'),
      '--json',
    ]);
    expect(s3Down.code).toBe(2);

    for (const { args, result } of outputs) {
      for (const [name, secret] of Object.entries(secrets)) {
        expect(
          `${result.stdout}\n${result.stderr}`,
          `${name} in the output of ${args.join(' ')}`,
        ).not.toContain(secret);
      }
    }
  });

  it('a source warning (--tables matching nothing) makes the backup exit 1, not 0', async () => {
    const result = await run([
      'backup',
      'postgres',
      '--tables',
      'nonexist',
      '--to',
      local(),
      '--pipeline',
      'tables',
    ]);
    expect(result.stderr).toContain('warning: no table matches --tables nonexist');
    expect(result.code).toBe(1);
  });
});
