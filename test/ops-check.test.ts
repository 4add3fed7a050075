import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { copySampleService, runCli, tempDir } from './helpers/cli.js';
import { type HttpListener, startHttpListener } from './ops-support.js';

/** A real backup of the sample service's .env into a fresh repository. */
async function repositoryWithBackup(pipeline = 'config'): Promise<string> {
  const service = await copySampleService();
  const repo = await tempDir('check-repo');
  const backup = await runCli(['backup', 'files', '.env', '--to', repo, '--pipeline', pipeline], {
    cwd: service,
  });
  expect(backup.code).toBe(0);
  return repo;
}

let listener: HttpListener | undefined;
afterEach(async () => {
  await listener?.close();
  listener = undefined;
});

describe('nexus-backup check', () => {
  it('exits 0 for a fresh backup and says how old and large it is', async () => {
    const repo = await repositoryWithBackup();
    const check = await runCli(['check', '--from', repo, '--max-age', '1h']);
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/^ok {4}config: newest backup \d{8}T\d{6}Z-[0-9a-f]{6} is .* old, \d+ B$/m);
    expect(check.stdout).not.toContain('FAIL');
  });

  it('with --quiet prints nothing when all is well (cron mails only problems)', async () => {
    const repo = await repositoryWithBackup();
    const quiet = await runCli(['check', 'config', 'database', '--from', repo, '--max-age', '1h', '--quiet']);
    expect(quiet.code).toBe(2);
    expect(quiet.stdout).toBe(`FAIL  database: missing: no complete backup in ${repo}\n`);
    const fine = await runCli(['check', 'config', '--from', repo, '--max-age', '1h', '--quiet']);
    expect(fine.code).toBe(0);
    expect(fine.stdout + fine.stderr).toBe('');
  });

  it('exits 2 naming a stale backup once it is older than --max-age', async () => {
    const repo = await repositoryWithBackup();
    await sleep(1100);
    const check = await runCli(['check', 'config', '--from', repo, '--max-age', '1s']);
    expect(check.code).toBe(2);
    expect(check.stdout).toMatch(/^FAIL {2}config: stale: newest backup \S+ is .* old \(max 1\.0s\)$/m);
  });

  it('exits 2 for a named pipeline that has no backup, one line per problem', async () => {
    const repo = await repositoryWithBackup();
    const check = await runCli([
      'check',
      'config',
      'database',
      'credentials',
      '--from',
      repo,
      '--max-age',
      '1h',
    ]);
    expect(check.code).toBe(2);
    const failures = check.stdout.split('\n').filter((line) => line.startsWith('FAIL'));
    expect(failures).toEqual([
      `FAIL  database: missing: no complete backup in ${repo}`,
      `FAIL  credentials: missing: no complete backup in ${repo}`,
    ]);
    expect(check.stdout).toMatch(/^ok {4}config:/m);
  });

  it('exits 2 for an empty repository instead of passing on nothing', async () => {
    const repo = await tempDir('empty-repo');
    const check = await runCli(['check', '--from', repo, '--max-age', '1h']);
    expect(check.code).toBe(2);
    expect(check.stdout).toContain('holds no backups at all');
  });

  it('exits 2 when the newest backup stores fewer bytes than --min-size', async () => {
    const repo = await repositoryWithBackup();
    const listed = JSON.parse((await runCli(['list', '--from', repo, '--json'])).stdout);
    const bytes = listed.backups[0].bytes as number;
    const enough = await runCli(['check', '--from', repo, '--max-age', '1h', '--min-size', String(bytes)]);
    expect(enough.code).toBe(0);
    const tooSmall = await runCli([
      'check',
      '--from',
      repo,
      '--max-age',
      '1h',
      '--min-size',
      String(bytes + 1),
    ]);
    expect(tooSmall.code).toBe(2);
    expect(tooSmall.stdout).toContain(
      `config: too small: newest backup ${listed.backups[0].id} stores ${bytes} bytes`,
    );
    expect(tooSmall.stdout).toContain(`less than the minimum ${bytes + 1}`);
  });

  it('exits 2 for a manifest that cannot be read, even next to a good backup', async () => {
    const repo = await repositoryWithBackup();
    const service = await copySampleService();
    expect(
      (await runCli(['backup', 'files', '.env', '--to', repo, '--pipeline', 'config'], { cwd: service }))
        .code,
    ).toBe(0);
    const [oldest] = (await readdir(join(repo, 'config'))).sort();
    const manifest = join(repo, 'config', oldest as string, 'manifest.json');
    await writeFile(manifest, (await readFile(manifest, 'utf8')).slice(0, 40));

    const check = await runCli(['check', '--from', repo, '--max-age', '1h', '--json']);
    expect(check.code).toBe(2);
    const report = JSON.parse(check.stdout);
    expect(report.ok).toBe(false);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatchObject({ pipeline: 'config', kind: 'unverifiable' });
    expect(report.problems[0].message).toContain(`unverifiable manifest in ${oldest}`);
    expect(report.pipelines[0].newest.id).not.toBe(oldest);
  });

  it('posts a Slack/Discord-compatible message to --notify when a problem is found', async () => {
    listener = await startHttpListener();
    const repo = await repositoryWithBackup();
    const check = await runCli([
      'check',
      'config',
      'database',
      '--from',
      repo,
      '--max-age',
      '1h',
      '--notify',
      `${listener.url}/hooks/T000/SECRET`,
    ]);
    expect(check.code).toBe(2);
    expect(listener.requests).toHaveLength(1);
    const [request] = listener.requests;
    expect(request).toMatchObject({
      method: 'POST',
      path: '/hooks/T000/SECRET',
      contentType: 'application/json',
    });
    const body = JSON.parse(request?.body ?? '');
    expect(Object.keys(body).sort()).toEqual(['content', 'text']);
    expect(body.text).toBe(body.content);
    expect(body.text).toContain(`nexus-backup check of ${repo}`);
    expect(body.text).toContain('1 problem(s)');
    expect(body.text).toContain(`- database: missing: no complete backup in ${repo}`);
    expect(check.stderr).not.toContain('SECRET');
  });

  it('posts nothing on success unless --notify-on-success is given', async () => {
    listener = await startHttpListener();
    const repo = await repositoryWithBackup();
    const quiet = await runCli([
      'check',
      '--from',
      repo,
      '--max-age',
      '1h',
      '--notify',
      `${listener.url}/hook`,
    ]);
    expect(quiet.code).toBe(0);
    expect(listener.requests).toHaveLength(0);

    const loud = await runCli(['check', '--from', repo, '--max-age', '1h', '--notify-on-success'], {
      env: { SLACK_URL: `${listener.url}/hook` },
    });
    expect(loud.code).toBe(0);
    expect(listener.requests).toHaveLength(0); // --notify-on-success alone names no webhook

    const viaEnv = await runCli(
      ['check', '--from', repo, '--max-age', '1h', '--notify-env', 'SLACK_URL', '--notify-on-success'],
      {
        env: { SLACK_URL: `${listener.url}/hook` },
      },
    );
    expect(viaEnv.code).toBe(0);
    expect(listener.requests).toHaveLength(1);
    expect(JSON.parse(listener.requests[0]?.body ?? '').text).toContain('1 pipeline(s) fresh');
  });

  it('reports a webhook that fails by host only, as a warning on top of the check result', async () => {
    listener = await startHttpListener(500);
    const repo = await repositoryWithBackup();
    const url = `${listener.url}/hooks/TOKEN-abc123`;
    const check = await runCli([
      'check',
      '--from',
      repo,
      '--max-age',
      '1h',
      '--notify',
      url,
      '--notify-on-success',
    ]);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(`notification failed: ${new URL(url).host} answered HTTP 500`);
    expect(check.stderr).not.toContain('TOKEN-abc123');
  });

  it("with --config and no --notify, sends problems to the config's webhooks, never to healthchecks", async () => {
    listener = await startHttpListener();
    const repo = await repositoryWithBackup();
    const dir = await tempDir('check-config');
    const config = join(dir, 'nexus-backup.yaml');
    await writeFile(
      config,
      [
        'pipelines:',
        '  config:',
        '    source: { use: files, paths: [.env] }',
        `    to: [${repo}]`,
        '    check: { maxAge: 1h }',
        '  database:',
        '    source: { use: files, paths: [.env] }',
        `    to: [${repo}]`,
        '    check: { maxAge: 1h }',
        'notify:',
        `  - { url: "${listener.url}/chat", on: [failure] }`,
        `  - { url: "${listener.url}/ping", kind: healthchecks }`,
        '',
      ].join('\n'),
    );
    const failing = await runCli(['check', '--config', config, '--from', repo]);
    expect(failing.code).toBe(2);
    expect(listener.requests.map((request) => request.path)).toEqual(['/chat']);
    expect(JSON.parse(listener.requests[0]?.body ?? '').text).toContain('- database: missing');

    // all well: a success event, which this webhook's `on:` leaves out
    const passing = await runCli(['check', 'config', '--config', config, '--from', repo]);
    expect(passing.code).toBe(0);
    expect(listener.requests).toHaveLength(1);
  });

  it('writes a node-exporter textfile with last success time, size, duration and check status', async () => {
    const repo = await repositoryWithBackup();
    const metricsDir = await tempDir('textfile');
    const file = join(metricsDir, 'nexus_backup.prom');
    const check = await runCli([
      'check',
      'config',
      'database',
      '--from',
      repo,
      '--max-age',
      '1h',
      '--prometheus',
      file,
    ]);
    expect(check.code).toBe(2);
    const listed = JSON.parse((await runCli(['list', '--from', repo, '--json'])).stdout).backups[0];
    const text = await readFile(file, 'utf8');
    const labels = `{pipeline="config",repository="${repo}"}`;
    const missing = `{pipeline="database",repository="${repo}"}`;
    expect(text).toContain(
      `nexus_backup_last_success_timestamp_seconds${labels} ${Date.parse(listed.finishedAt) / 1000}\n`,
    );
    expect(text).toContain(`nexus_backup_last_size_bytes${labels} ${listed.bytes}\n`);
    expect(text).toContain(
      `nexus_backup_last_duration_seconds${labels} ${(Date.parse(listed.finishedAt) - Date.parse(listed.startedAt)) / 1000}\n`,
    );
    expect(text).toContain(`nexus_backup_check_ok${labels} 1\n`);
    expect(text).toContain(`nexus_backup_check_ok${missing} 0\n`);
    expect(text).not.toContain(`nexus_backup_last_size_bytes${missing}`);
    expect(text).toContain('# TYPE nexus_backup_check_ok gauge\n');
    // Written by rename: nothing but the final file is left in the collector's directory.
    expect(await readdir(metricsDir)).toEqual(['nexus_backup.prom']);
  });

  it('needs a maximum age from --max-age or the pipeline config', async () => {
    const repo = await repositoryWithBackup();
    const check = await runCli(['check', '--from', repo]);
    expect(check.code).toBe(64);
    expect(check.stderr).toContain('no maximum age for pipeline config');
  });
});
