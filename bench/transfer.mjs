// Moving a backup off the machine: `nexus-backup backup files` into an sftp repository against `scp`,
// both to the same loopback sshd with the same key; and into an s3 repository (s3rver on loopback)
// next to a local one. The payload is random, so neither side gains from compression.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { measure } from './measure.mjs';

const MiB = 1024 * 1024;

export async function writePayload(work, megabytes) {
  const file = join(work, 'payload.bin');
  const block = randomBytes(MiB);
  await pipeline(
    Readable.from(
      (function* () {
        for (let i = 0; i < megabytes; i++) yield block;
      })(),
    ),
    createWriteStream(file),
  );
  return file;
}

/** `files` backups of one file, with no gzip and no encryption: only the transfer is measured. */
function backupFile(root, payload, repository) {
  return [
    'node',
    join(root, 'apps/cli/bin/nexus-backup.js'),
    'backup',
    'files',
    'payload.bin',
    '--base-dir',
    join(payload, '..'),
    '--no-gzip',
    '--to',
    repository,
    '--pipeline',
    'payload',
  ];
}

export async function sftpBench({ root, payload, rounds }) {
  const { startSshd } = await import('@nexus-backup/testkit/sshd');
  const server = await startSshd();
  try {
    const ssh = [
      '-i',
      server.identityFile,
      '-o',
      `UserKnownHostsFile=${server.knownHostsFile}`,
      '-o',
      'BatchMode=yes',
    ];
    const url =
      `sftp://${server.user}@127.0.0.1:${server.port}${server.root}/repo` +
      `?identity=${encodeURIComponent(server.identityFile)}&knownHosts=${encodeURIComponent(server.knownHostsFile)}`;
    const ours = [];
    const theirs = [];
    const viaSsh = [];
    // Interleaved rounds, so a burst of load from other processes slows both sides alike.
    for (let round = 0; round < rounds; round++) {
      theirs.push(
        await measure([
          [
            'scp',
            ...ssh,
            '-P',
            String(server.port),
            payload,
            `${server.user}@127.0.0.1:${server.root}/scp.bin`,
          ],
        ]),
      );
      ours.push(await measure([backupFile(root, payload, url)]));
      // ?transport=ssh: the same repository through the system ssh client (OpenSSH does the crypto)
      viaSsh.push(await measure([backupFile(root, payload, `${url}&transport=ssh`)]));
    }
    return { ours: fastest(ours), theirs: fastest(theirs), viaSsh: fastest(viaSsh) };
  } finally {
    await server.stop();
  }
}

export async function s3Bench({ root, work, payload }) {
  const { startS3Server } = await import('@nexus-backup/testkit/s3');
  const server = await startS3Server({ kind: 's3rver' });
  try {
    const url =
      `s3://${server.bucket}/bench?region=${server.region}` +
      `&endpoint=${encodeURIComponent(server.endpoint)}&forcePathStyle=true`;
    const env = {
      AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
    };
    const s3 = await measure([backupFile(root, payload, url)], { env });
    const localRepo = join(work, 'local-repo');
    await mkdir(localRepo, { recursive: true });
    const local = await measure([backupFile(root, payload, localRepo)]);
    await rm(localRepo, { recursive: true, force: true });
    return { s3, local };
  } finally {
    await server.stop();
  }
}

const fastest = (runs) => runs.reduce((best, run) => (run.wall < best.wall ? run : best));
