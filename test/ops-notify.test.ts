import { afterEach, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';
import { type HttpListener, startHttpListener, writeOpsProject } from './ops-support.js';

const PIPELINES = `
plugins: [./slow-source.mjs]
repositories:
  local: ./repo
  offsite: { url: /dev/null/offsite, optional: true }
pipelines:
  config:
    source: { use: files, paths: [.env] }
    to: [local]
  partial:
    source: { use: files, paths: [.env] }
    to: [local, offsite]
  broken:
    source: { use: slow, chunks: 3, delayMs: 10, fail: true }
    to: [local]
`;

const listeners: HttpListener[] = [];
async function listen(status = 200): Promise<HttpListener> {
  const listener = await startHttpListener(status);
  listeners.push(listener);
  return listener;
}
afterEach(async () => {
  for (const listener of listeners.splice(0)) await listener.close();
});

async function project(notify: string): Promise<{ dir: string; config: string }> {
  const dir = await tempDir('notify');
  return { dir, config: await writeOpsProject(dir, `${PIPELINES}${notify}`) };
}

describe('notifications from backup and run', () => {
  it('a webhook entry without `on` hears about failures and warnings, not successes', async () => {
    const hook = await listen();
    const { config } = await project(`notify:\n  - { url: "\${HOOK}" }\n`);
    const env = { HOOK: `${hook.url}/services/T1/B2/SECRETTOKEN` };

    const good = await runCli(['run', 'config', '--config', config], { env });
    expect(good.code).toBe(0);
    expect(hook.requests).toHaveLength(0);

    const failed = await runCli(['run', 'broken', '--config', config], { env });
    expect(failed.code).toBe(2);
    expect(hook.requests).toHaveLength(1);
    const failure = JSON.parse(hook.requests[0]?.body ?? '');
    expect(failure.text).toBe(failure.content);
    expect(failure.text).toMatch(
      /^nexus-backup: broken backup FAILED on \S+ after [\d.]+s: .*slow source failed on purpose/,
    );

    const warned = await runCli(['run', 'partial', '--config', config], { env });
    expect(warned.code).toBe(1);
    expect(hook.requests).toHaveLength(2);
    const warning = JSON.parse(hook.requests[1]?.body ?? '').text as string;
    expect(warning).toContain('nexus-backup: partial backup finished with warnings');
    expect(warning).toContain('optional repository offsite failed');
    for (const result of [good, failed, warned]) expect(result.stderr).not.toContain('SECRETTOKEN');
  });

  it('`on: [success]` makes the ad-hoc backup command post its success too', async () => {
    const hook = await listen();
    const { dir, config } = await project(`notify:\n  - { url: "\${HOOK}", on: [success] }\n`);
    const backup = await runCli(
      ['backup', 'files', '.env', '--to', './repo', '--pipeline', 'adhoc', '--config', config],
      {
        cwd: dir,
        env: { HOOK: `${hook.url}/hook` },
      },
    );
    expect(backup.code).toBe(0);
    expect(hook.requests).toHaveLength(1);
    const list = JSON.parse((await runCli(['list', '--from', `${dir}/repo`, '--json'])).stdout);
    const text = JSON.parse(hook.requests[0]?.body ?? '').text as string;
    expect(text).toContain(`nexus-backup: adhoc backup succeeded on`);
    expect(text).toContain(list.backups[0].id);
  });

  it('healthchecks-style pings: /start, then the URL on success or /fail on failure', async () => {
    const ping = await listen();
    const { config } = await project(`notify:\n  - { url: "\${PING}", kind: healthchecks }\n`);
    const env = { PING: `${ping.url}/ping/1234-uuid` };

    expect((await runCli(['run', 'config', '--config', config], { env })).code).toBe(0);
    expect((await runCli(['run', 'broken', '--config', config], { env })).code).toBe(2);
    expect(ping.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      'POST /ping/1234-uuid/start',
      'POST /ping/1234-uuid',
      'POST /ping/1234-uuid/start',
      'POST /ping/1234-uuid/fail',
    ]);
    expect(ping.requests[1]?.body).toContain('config backup succeeded');
    expect(ping.requests[3]?.body).toContain('slow source failed on purpose');
  });

  it('a failing notifier never fails a good backup: it is a warning naming the host only', async () => {
    const hook = await listen(503);
    const { dir, config } = await project(`notify:\n  - { url: "\${HOOK}", on: [success, failure] }\n`);
    const url = `${hook.url}/services/T1/B2/SECRETTOKEN`;
    const run = await runCli(['run', 'config', '--config', config], { env: { HOOK: url } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`notification failed: ${new URL(url).host} answered HTTP 503`);
    expect(run.stderr).not.toContain('SECRETTOKEN');
    const list = JSON.parse((await runCli(['list', '--from', `${dir}/repo`, '--json'])).stdout);
    expect(list.backups).toHaveLength(1);
  });

  it('a refused notifier connection is a warning and the backup stays', async () => {
    const closed = await listen();
    const url = `${closed.url}/hook`;
    await closed.close();
    listeners.splice(0);
    const { dir, config } = await project(`notify:\n  - { url: "\${HOOK}", on: [success] }\n`);
    const run = await runCli(['run', 'config', '--config', config], { env: { HOOK: url } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`notification failed: ${new URL(url).host}: request failed (ECONNREFUSED)`);
    const list = JSON.parse((await runCli(['list', '--from', `${dir}/repo`, '--json'])).stdout);
    expect(list.backups).toHaveLength(1);
  });
});
