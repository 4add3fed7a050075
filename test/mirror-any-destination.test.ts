import { readdir, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { type S3Server, startS3Server } from '@nexus-backup/testkit/s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copySampleService, runCli, tempDir } from './helpers/cli.js';

// mirror is core's repository operation: it works between any two destinations, not only into SFTP.
describe('mirror between any two repositories', () => {
  let s3: S3Server;
  let service: string;
  const dirs: string[] = [];
  const dir = async (prefix: string) => {
    const made = await tempDir(prefix);
    dirs.push(made);
    return made;
  };

  beforeAll(async () => {
    s3 = await startS3Server({ kind: 'fauxqs' });
    service = await copySampleService();
    dirs.push(service);
  });
  afterAll(async () => {
    await s3?.stop();
    for (const made of dirs) await rm(made, { recursive: true, force: true });
  });

  const backupInto = async (repo: string, pipeline: string) => {
    const made = await runCli(['backup', 'files', 'docker', '--to', repo, '--pipeline', pipeline], {
      cwd: service,
    });
    expect(made.code).toBe(0);
  };

  it('copies a local repository into S3, then finds it unchanged; an S3 target offers no rsync method', async () => {
    const local = await dir('mirror-local');
    await backupInto(local, 'db');
    await backupInto(local, 'credentials');
    const repo = `s3://${s3.bucket}/mirrored?region=${s3.region}&endpoint=${s3.endpoint}&forcePathStyle=true`;
    const env = {
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    };

    const first = await runCli(['mirror', local, repo, '--json'], { env });
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout).copied).toHaveLength(2);
    const listed = JSON.parse((await runCli(['list', '--from', repo, '--json'], { env })).stdout);
    expect(listed.backups.map((b: { pipeline: string }) => b.pipeline).sort()).toEqual(['credentials', 'db']);

    const second = JSON.parse((await runCli(['mirror', local, repo, '--json'], { env })).stdout);
    expect(second.copied).toEqual([]);
    expect(second.unchanged).toHaveLength(2);

    const rsync = await runCli(['mirror', local, repo, '--via', 'rsync'], { env });
    expect(rsync.code).toBe(64);
    expect(rsync.stderr).toContain('cannot be mirrored into via "rsync"');
    expect(rsync.stderr).toContain('stream');
  });

  it('a source backup whose artifact lost bytes fails (exit 2) and stays invisible in the target; the others are copied', async () => {
    const local = await dir('mirror-damaged');
    const target = await dir('mirror-target');
    await backupInto(local, 'db');
    await backupInto(local, 'credentials');
    const [id] = await readdir(join(local, 'db'));
    const [artifact] = (await readdir(join(local, 'db', id as string))).filter((f) => f !== 'manifest.json');
    await truncate(join(local, 'db', id as string, artifact as string), 10);

    const mirrored = await runCli(['mirror', local, target, '--json']);
    expect(mirrored.code).toBe(2);
    const report = JSON.parse(mirrored.stdout);
    expect(report.failed.map((f: { backup: string }) => f.backup)).toEqual([`db/${id}`]);
    expect(report.copied.map((c: { backup: string }) => c.backup.split('/')[0])).toEqual(['credentials']);
    const listed = JSON.parse((await runCli(['list', '--from', target, '--json'])).stdout);
    expect(listed.backups.map((b: { pipeline: string }) => b.pipeline)).toEqual(['credentials']);
    expect(await readdir(target)).not.toContain('db');
  });
});
