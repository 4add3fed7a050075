import { chmod, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copySampleService, runCli, tempDir } from './helpers/cli.js';
import { describeTree } from './helpers/tree.js';

const PASSPHRASE = 'correct horse battery staple';

async function writeConfig(service: string, body: string): Promise<string> {
  const file = join(service, 'nexus-backup.yaml');
  await writeFile(file, body);
  return file;
}

describe('run: named pipelines from a config file', () => {
  it('runs every pipeline into two repositories, applies retention, and restores what it stored', async () => {
    const service = await copySampleService();
    const primary = await tempDir('primary');
    const second = await tempDir('second');
    await writeConfig(
      service,
      `repositories:
  local: ${primary}
  second: { url: "${second}" }
pipelines:
  config:
    source: { use: files, paths: [.env, docker-compose.yml, docker] }
    to: [local, second]
    retention: { keepLast: 2 }
  credentials:
    source: { use: credentials, dir: ./credentials }
    transforms: [ { use: gzip, level: "\${GZIP_LEVEL}" }, { use: aes } ]
    to: [local]
`,
    );
    const env = { NEXUS_BACKUP_PASSPHRASE: PASSPHRASE, GZIP_LEVEL: '9' };
    for (let run = 0; run < 3; run += 1) {
      const result = await runCli(['run', '--config', 'nexus-backup.yaml'], { cwd: service, env });
      expect(result.stderr).not.toContain('warning');
      expect(result.code).toBe(0);
    }
    const listed = JSON.parse((await runCli(['list', 'config', '--from', primary, '--json'])).stdout);
    expect(listed.backups).toHaveLength(2);
    expect((await readdir(join(second, 'config'))).length).toBe(2);

    const credentials = JSON.parse(
      (await runCli(['list', 'credentials', '--from', primary, '--json'])).stdout,
    );
    expect(credentials.backups).toHaveLength(3);
    expect(credentials.backups[0].transforms).toEqual(['gzip', 'aes']);

    const out = join(await tempDir('out'), 'credentials');
    const restore = await runCli(['restore', 'credentials@latest', '--from', primary, '--to-dir', out], {
      env,
    });
    expect(restore.code).toBe(0);
    expect(await describeTree(out, { mtimes: false })).toEqual(
      (await describeTree(join(service, 'credentials'), { mtimes: false })).map((line) =>
        line.replace(/ \d+ /, ' 600 '),
      ),
    );
  });

  it('an optional repository that fails gives exit 1 and a warning; the backup still lands in the required one', async () => {
    const service = await copySampleService();
    const primary = await tempDir('primary');
    await writeConfig(
      service,
      `repositories:
  local: ${primary}
  flaky: { url: /proc/nexus-offsite, optional: true }
pipelines:
  config:
    source: { use: files, paths: [.env] }
    to: [local, flaky]
`,
    );
    const result = await runCli(['run', 'config'], { cwd: service });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('optional repository flaky failed');
    const listed = JSON.parse((await runCli(['list', '--from', primary, '--json'])).stdout);
    expect(listed.backups).toHaveLength(1);
  });

  it('a required repository that fails fails the run and leaves no backup anywhere', async () => {
    const service = await copySampleService();
    const primary = await tempDir('primary');
    const readOnly = await tempDir('readonly');
    await chmod(readOnly, 0o500);
    await writeConfig(
      service,
      `repositories:
  local: ${primary}
  broken: /proc/nexus-required
pipelines:
  config:
    source: { use: files, paths: [.env] }
    to: [local, broken]
`,
    );
    const result = await runCli(['run', 'config'], { cwd: service });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('/proc/nexus-required');
    const listed = JSON.parse((await runCli(['list', '--from', primary, '--json'])).stdout);
    expect(listed.backups).toEqual([]);
    expect(listed.incomplete).toEqual([]);
  });

  it('a misspelled config key is a usage error naming its path', async () => {
    const service = await copySampleService();
    await writeConfig(
      service,
      `pipelines:
  config:
    source: { use: files, paths: [.env] }
    to: [./backups]
    retention: { keepDaly: 7 }
`,
    );
    const result = await runCli(['run'], { cwd: service });
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('pipelines.config.retention.keepDaly');
    expect(result.stderr).toContain('keepDaily');

    await writeConfig(
      service,
      `pipelines:\n  config:\n    source: { use: files, pathz: [.env] }\n    to: [./backups]\n`,
    );
    const badOption = await runCli(['run'], { cwd: service });
    expect(badOption.code).toBe(64);
    expect(badOption.stderr).toContain('pipelines.config.source.pathz');
  });
});
