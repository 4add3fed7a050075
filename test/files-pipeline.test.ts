import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copySampleService, runCli, tempDir } from './helpers/cli.js';
import { describeTree } from './helpers/tree.js';

/** One `files` backup of the sample service's .env into a fresh repository: its folder and repository. */
async function backupEnvFile(): Promise<{ backups: string; folder: string }> {
  const service = await copySampleService();
  const backups = await tempDir('repo');
  const backup = await runCli(['backup', 'files', '.env', '--to', backups, '--pipeline', 'config'], {
    cwd: service,
  });
  expect(backup.code).toBe(0);
  const [id] = await readdir(join(backups, 'config'));
  return { backups, folder: join(backups, 'config', id as string) };
}

// The forms from issue 2 that operators' scripts use, run through the real binary.
describe('files pipeline through the nexus-backup binary', () => {
  it('backs up, lists, verifies and restores a byte-identical tree with modes and mtimes', async () => {
    const service = await copySampleService();
    const backups = await tempDir('repo');
    const out = join(await tempDir('out'), 'restored');

    const backup = await runCli(
      ['backup', 'files', '.env', 'docker-compose.yml', 'docker', '--to', backups, '--pipeline', 'config'],
      {
        cwd: service,
      },
    );
    expect(backup.stderr).toContain('backup config@');
    expect(backup.code).toBe(0);

    const list = await runCli(['list', '--from', backups, '--json']);
    expect(list.code).toBe(0);
    const listed = JSON.parse(list.stdout);
    expect(listed.backups).toHaveLength(1);
    expect(listed.backups[0]).toMatchObject({ pipeline: 'config', source: 'files' });
    expect(listed.backups[0].artifacts[0].stored.sha256).toMatch(/^[0-9a-f]{64}$/);

    const verify = await runCli(['verify', 'config', '--from', backups]);
    expect(verify.code).toBe(0);

    const restore = await runCli(['restore', 'config@latest', '--from', backups, '--to-dir', out]);
    expect(restore.code).toBe(0);
    const backedUp = /^\S+ (\.env|docker-compose\.yml|docker)( |\/)/;
    const original = (await describeTree(service)).filter((line) => backedUp.test(line));
    expect(original.length).toBeGreaterThanOrEqual(5);
    expect(await describeTree(out)).toEqual(original);
  });

  it('verify exits 2 naming the artifact when a stored byte changed', async () => {
    const { backups, folder } = await backupEnvFile();
    const artifact = (await readdir(folder)).find((name) => name !== 'manifest.json') as string;
    const bytes = await readFile(join(folder, artifact));
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    await writeFile(join(folder, artifact), bytes);

    const verify = await runCli(['verify', 'config', '--from', backups]);
    expect(verify.code).toBe(2);
    expect(verify.stderr).toContain(artifact);
    expect(verify.stderr).toContain('does not match its manifest');

    const out = join(await tempDir('out'), 'target');
    const restore = await runCli(['restore', 'config@latest', '--from', backups, '--to-dir', out]);
    expect(restore.code).toBe(2);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  });

  it('a backup without its manifest is not counted by list, restore or verify', async () => {
    const { backups, folder } = await backupEnvFile();
    await rm(join(folder, 'manifest.json'));

    const list = JSON.parse((await runCli(['list', '--from', backups, '--json'])).stdout);
    expect(list.backups).toEqual([]);
    expect(list.incomplete).toHaveLength(1);
    const restore = await runCli([
      'restore',
      'config@latest',
      '--from',
      backups,
      '--to-dir',
      join(backups, 'x'),
    ]);
    expect(restore.code).toBe(2);
    expect(restore.stderr).toContain('no complete backup config@latest');
  });

  it('clear errors with distinct exit codes for bad input', async () => {
    const service = await copySampleService();
    const backups = await tempDir('repo');
    const missingPath = await runCli(['backup', 'files', 'no-such-file', '--to', backups], { cwd: service });
    expect(missingPath.code).toBe(2);
    expect(missingPath.stderr).toContain('no-such-file');
    expect(await readdir(backups)).toEqual([]);

    const unknownSource = await runCli(['backup', 'mysql', '--to', backups]);
    expect(unknownSource.code).toBe(64);

    const unknownOption = await runCli(['backup', 'files', '.env', '--to', backups, '--frobnicate'], {
      cwd: service,
    });
    expect(unknownOption.code).toBe(64);
    expect(unknownOption.stderr).toContain('--frobnicate');

    const missingBackup = await runCli([
      'restore',
      'config@20200101T000000Z-abcdef',
      '--from',
      backups,
      '--to-dir',
      join(backups, 'x'),
    ]);
    expect(missingBackup.code).toBe(2);
    expect(missingBackup.stderr).toContain('no complete backup config@20200101T000000Z-abcdef');

    const badScheme = await runCli(['list', '--from', 'ftp://example.com/backups']);
    expect(badScheme.code).toBe(64);
    expect(badScheme.stderr).toContain('unsupported repository scheme "ftp:"');

    const unwritable = await runCli(['backup', 'files', '.env', '--to', '/proc/nexus-backups'], {
      cwd: service,
    });
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr).toContain('/proc/nexus-backups');

    const credentials = await runCli(
      ['backup', 'credentials', '--dir', 'credentials', '--to', backups, '--no-gzip'],
      { cwd: service },
    );
    expect(credentials.code).toBe(64);
    expect(credentials.stderr).toContain('must be encrypted');
    expect(credentials.stderr).toContain('--encrypt');
  });

  it('an optional repository given on the command line (?optional=true) that fails gives exit 1; the other keeps the backup', async () => {
    const service = await copySampleService();
    const backups = await tempDir('repo');
    const unreachable =
      's3://bucket/nexus?region=us-east-1&endpoint=http://127.0.0.1:9&forcePathStyle=true&maxAttempts=1&optional=true';
    const backup = await runCli(
      ['backup', 'files', '.env', '--to', backups, '--to', unreachable, '--pipeline', 'config'],
      {
        cwd: service,
        env: { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test-secret-key' },
      },
    );
    expect(backup.code).toBe(1);
    expect(backup.stderr).toContain('optional repository s3://bucket/nexus');
    expect(backup.stderr).not.toContain('test-secret-key');
    const listed = JSON.parse((await runCli(['list', '--from', backups, '--json'])).stdout);
    expect(listed.backups).toHaveLength(1);
  });
});
