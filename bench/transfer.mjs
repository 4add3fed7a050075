// Moving a backup off the machine: `nexus-backup backup files` into an sftp repository against `scp`,
// both to the same loopback sshd with the same key; and into an s3 repository (s3rver on loopback)
// next to a local one. The payload is random, so neither side gains from compression.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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

/**
 * `backup files` into an sftp repository (both transports) against `scp` of the same file, and the
 * same for a 1-byte file: what a run costs besides moving the bytes (the CLI's start, the SSH
 * handshake and login, the lease, the manifest), next to what scp's own start and login cost.
 */
export async function sftpBench({ root, payload, rounds }) {
  const { startSshd } = await import('@nexus-backup/testkit/sshd');
  const server = await startSshd();
  const tinyDir = join(dirname(payload), 'fixed-cost');
  await mkdir(tinyDir, { recursive: true });
  const tiny = join(tinyDir, 'payload.bin');
  await writeFile(tiny, 'x');
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
    const scp = (file) => [
      'scp',
      ...ssh,
      '-P',
      String(server.port),
      file,
      `${server.user}@127.0.0.1:${server.root}/scp.bin`,
    ];
    const runs = { ours: [], theirs: [], viaSsh: [], tinyOurs: [], tinyTheirs: [], tinyViaSsh: [] };
    // Dirty pages are flushed before each timing (untimed), as section 5b does: otherwise a run's
    // fsync waits behind the writeback of the 200 MiB the previous command left in the page cache
    // (scp never syncs), and whoever runs after scp pays for it.
    const timed = async (stages) => {
      execFileSync('sync');
      return measure(stages);
    };
    // Interleaved rounds, so a burst of load from other processes slows every row alike.
    for (let round = 0; round < rounds; round++) {
      runs.theirs.push(await timed([scp(payload)]));
      runs.ours.push(await timed([backupFile(root, payload, url)]));
      // ?transport=ssh: the same repository through the system ssh client (OpenSSH does the crypto)
      runs.viaSsh.push(await timed([backupFile(root, payload, `${url}&transport=ssh`)]));
      runs.tinyTheirs.push(await timed([scp(tiny)]));
      runs.tinyOurs.push(await timed([backupFile(root, tiny, url)]));
      runs.tinyViaSsh.push(await timed([backupFile(root, tiny, `${url}&transport=ssh`)]));
    }
    return Object.fromEntries(Object.entries(runs).map(([row, measured]) => [row, fastest(measured)]));
  } finally {
    await server.stop();
    await rm(tinyDir, { recursive: true, force: true });
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
