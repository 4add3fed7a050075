import { execFileSync } from 'node:child_process';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { type S3Server, startS3Server } from '@nexus-backup/testkit/s3';
import { type SshdHandle, startSshd } from '@nexus-backup/testkit/sshd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { type PitrWorkspace, pitrWorkspace, switchAndWaitArchived } from './helpers/pitr.js';

// The full story again with an encrypted, compressed WAL pipeline on S3 (fauxqs) and on SFTP (sshd):
// every push goes to both, and a restore replays from each of them.
describe('point-in-time recovery with WAL on S3 and SFTP, gzip + aes', () => {
  let workspace: PitrWorkspace;
  let server: PostgresServer;
  let s3: S3Server;
  let sshd: SshdHandle;
  let s3Repo: string;
  let sftpRepo: string;
  let passphraseFile: string;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    [s3, sshd, workspace] = await Promise.all([
      startS3Server({ kind: 'fauxqs' }),
      startSshd(),
      pitrWorkspace(),
    ]);
    // The server's user runs wal push and wal fetch: its key, known_hosts and passphrase file must be its own.
    const identity = join(workspace.dir, 'id');
    const knownHosts = join(workspace.dir, 'known_hosts');
    passphraseFile = join(workspace.dir, 'passphrase');
    await copyFile(sshd.identityFile, identity);
    await copyFile(sshd.knownHostsFile, knownHosts);
    await writeFile(passphraseFile, 'remote wal test\n', { mode: 0o600 });
    if (process.getuid?.() === 0) execFileSync('chown', ['nobody', identity, knownHosts, passphraseFile]);
    s3Repo = `s3://${s3.bucket}/nexus?region=${s3.region}&endpoint=${s3.endpoint}&forcePathStyle=true`;
    sftpRepo = `sftp://${sshd.user}@${sshd.host}:${sshd.port}${join(sshd.root, 'backups')}?identity=${identity}&knownHosts=${knownHosts}`;
    // The S3 credentials reach archive_command and restore_command through the server's environment,
    // as they would from a systemd unit or a container's environment.
    process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
    server = await startPostgres({
      settings: {
        archive_mode: 'on',
        wal_level: 'replica',
        archive_command: `${workspace.cli} --passphrase-file ${passphraseFile} wal push %p --to '${s3Repo}' --to '${sftpRepo}' --transforms gzip,aes`,
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    process.env = savedEnv;
    await Promise.allSettled([s3?.stop(), sshd?.stop(), workspace?.remove()]);
  });

  it('restores to a time from either repository; the WAL stored there is encrypted', async () => {
    const env = { PGPASSWORD: server.password };
    await server.admin.exec('postgres', 'CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 500) g');
    const backup = await runCli(
      [
        ...['backup', 'pgbase', '--db', `postgresql://${server.user}@${server.host}:${server.port}/postgres`],
        ...['--pgdata', server.dataDir, '--to', workspace.repo, '--pipeline', 'base'],
      ],
      { env },
    );
    expect(backup.code).toBe(0);
    await server.admin.exec('postgres', 'INSERT INTO t SELECT g FROM generate_series(501, 900) g');
    await switchAndWaitArchived(server);
    const expected = await tableChecksums(server.url());
    const target = (
      await server.admin.query<{ now: string }>(
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS now",
      )
    ).rows[0]?.now as string;
    await server.admin.exec('postgres', 'DROP TABLE t');
    const last = await switchAndWaitArchived(server);

    const stored = execFileSync('ls', [join(sshd.root, 'backups', 'wal', 'wal')], { encoding: 'utf8' });
    expect(stored).toContain(`${last}.gz.aes`);

    for (const [label, walFrom] of [
      ['s3', s3Repo],
      ['sftp', sftpRepo],
    ] as const) {
      const restored = join(workspace.dir, `restored-${label}`);
      const restore = await runCli(
        [
          ...['restore', 'base@latest', '--from', workspace.repo, '--to-pgdata', restored],
          ...['--target-time', target, '--wal-from', walFrom, '--wal-passphrase-file', passphraseFile],
          ...['--wal-command', workspace.cli],
        ],
        { env },
      );
      expect({ code: restore.code, stderr: restore.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
      const copy = await startPostgres({ dataDir: restored, password: server.password });
      try {
        expect(await tableChecksums(copy.url())).toEqual(expected);
      } finally {
        await copy.stop();
      }
    }
  }, 300_000); // two restores, each replaying through scrypt-keyed aes per WAL file
});
