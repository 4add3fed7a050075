import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type S3Server, startS3Server } from '@nexus-backup/testkit/s3';
import { type SshdHandle, startSshd } from '@nexus-backup/testkit/sshd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copySampleService, runCli, tempDir } from './helpers/cli.js';
import { describeTree } from './helpers/tree.js';

// Issues 6 and 7's command forms through the real binary, against a real S3 server and a real sshd.
describe('S3 and SFTP repositories through the nexus-backup binary', () => {
  let s3: S3Server;
  let sshd: SshdHandle;
  let service: string;

  beforeAll(async () => {
    [s3, sshd] = await Promise.all([startS3Server({ kind: 'fauxqs' }), startSshd()]);
    service = await copySampleService();
  });
  afterAll(async () => {
    await Promise.allSettled([s3?.stop(), sshd?.stop()]);
  });

  it('backs up files to S3, lists and restores from it', async () => {
    const repo = `s3://${s3.bucket}/nexus?region=${s3.region}&endpoint=${s3.endpoint}&forcePathStyle=true`;
    const env = {
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    };
    const backup = await runCli(['backup', 'files', '.env', '--to', repo, '--pipeline', 'config'], {
      cwd: service,
      env,
    });
    expect(backup.code).toBe(0);
    const listed = JSON.parse((await runCli(['list', '--from', repo, '--json'], { env })).stdout);
    expect(listed.backups).toHaveLength(1);
    expect(listed.backups[0].pipeline).toBe('config');
    const out = join(await tempDir('s3-out'), 'restored');
    expect((await runCli(['restore', 'config@latest', '--from', repo, '--to-dir', out], { env })).code).toBe(
      0,
    );
    expect(await readdir(out)).toEqual(['.env']);
  });

  it('backs up files over SFTP, restores from it, and mirrors a local repository with --delete', async () => {
    const remote = `sftp://${sshd.user}@${sshd.host}:${sshd.port}${join(sshd.root, 'backups')}?identity=${sshd.identityFile}&knownHosts=${sshd.knownHostsFile}`;
    const backup = await runCli(['backup', 'files', '.env', '--to', remote, '--pipeline', 'config'], {
      cwd: service,
    });
    expect(backup.stderr).toContain('backup config@');
    expect(backup.code).toBe(0);
    const out = join(await tempDir('sftp-out'), 'restored');
    expect((await runCli(['restore', 'config@latest', '--from', remote, '--to-dir', out])).code).toBe(0);
    expect(await readdir(out)).toEqual(['.env']);

    const local = await tempDir('local');
    for (const pipeline of ['db', 'credentials']) {
      const made = await runCli(['backup', 'files', 'docker', '--to', local, '--pipeline', pipeline], {
        cwd: service,
      });
      expect(made.code).toBe(0);
    }
    const mirrored = await runCli(['mirror', local, remote, '--delete']);
    expect(mirrored.code).toBe(0);
    const remoteList = JSON.parse((await runCli(['list', '--from', remote, '--json'])).stdout);
    // --delete removed the `config` backup the local side does not have.
    expect(remoteList.backups.map((b: { pipeline: string }) => b.pipeline).sort()).toEqual([
      'credentials',
      'db',
    ]);
    expect(await describeTree(join(sshd.root, 'backups'), { mtimes: false })).toEqual(
      await describeTree(local, { mtimes: false }),
    );

    const emptyLocal = await tempDir('empty');
    const refused = await runCli(['mirror', emptyLocal, remote, '--delete']);
    expect(refused.code).toBe(64);
    expect(JSON.parse((await runCli(['list', '--from', remote, '--json'])).stdout).backups).toHaveLength(2);
  });

  it('an unknown host key is refused with its fingerprint', async () => {
    const emptyKnownHosts = join(await tempDir('kh'), 'known_hosts');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(emptyKnownHosts, '');
    const remote = `sftp://${sshd.user}@${sshd.host}:${sshd.port}${sshd.root}?identity=${sshd.identityFile}&knownHosts=${emptyKnownHosts}`;
    const listed = await runCli(['list', '--from', remote]);
    expect(listed.code).toBe(2);
    expect(listed.stderr).toContain(sshd.hostKeyFingerprint);
  });
});
