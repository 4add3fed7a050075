// Throughput of the sftp destination against scp, on the same file through the same loopback sshd.
// Run: pnpm --filter @nexus-backup/rsync bench   (builds first via the root `pnpm bench` too)
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { sftp } from '@nexus-backup/rsync';
import { createTestContext } from '@nexus-backup/testkit';
import { startSshd } from '@nexus-backup/testkit/sshd';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const size = Number(process.env.BENCH_MB ?? 200) * MiB;

const server = await startSshd();
const local = await mkdtemp(join(tmpdir(), 'nexus-bench-'));
try {
  const file = join(local, 'payload.bin');
  // incompressible data, written once; 1 MiB of randomness repeated keeps setup cheap
  const block = randomBytes(MiB);
  await pipeline(
    Readable.from(
      (function* () {
        for (let i = 0; i < size / MiB; i++) yield block;
      })(),
    ),
    createWriteStream(file),
  );

  const ssh = [
    '-i',
    server.identityFile,
    '-o',
    `UserKnownHostsFile=${server.knownHostsFile}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
  ];
  const time = async (label, fn) => {
    const start = process.hrtime.bigint();
    await fn();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(
      `${label.padEnd(28)} ${(size / MiB).toFixed(0)} MiB in ${seconds.toFixed(2)} s = ${(size / MiB / seconds).toFixed(1)} MiB/s`,
    );
  };

  await time('scp upload', () =>
    run('scp', [...ssh, '-P', String(server.port), file, `${server.user}@127.0.0.1:${server.root}/scp.bin`]),
  );
  await time('scp download', () =>
    run('scp', [
      ...ssh,
      '-P',
      String(server.port),
      `${server.user}@127.0.0.1:${server.root}/scp.bin`,
      join(local, 'scp-back.bin'),
    ]),
  );

  const options = sftp.fromUrl(
    new URL(
      `sftp://${server.user}@127.0.0.1:${server.port}${server.root}/repo?identity=${server.identityFile}&knownHosts=${server.knownHostsFile}`,
    ),
  );
  const destination = await sftp.create({ ...options });
  const ctx = createTestContext();
  await destination.put('warmup.bin', Readable.from([Buffer.alloc(1)]), ctx); // connect outside the timing
  await time('sftp destination put', () => destination.put('bench/payload.bin', createReadStream(file), ctx));
  await time('sftp destination get', async () =>
    pipeline(
      await destination.get('bench/payload.bin', ctx),
      createWriteStream(join(local, 'sftp-back.bin')),
    ),
  );
  const back = await stat(join(local, 'sftp-back.bin'));
  if (back.size !== size) throw new Error(`downloaded ${back.size} bytes instead of ${size}`);

  const SftpClient = (await import('ssh2-sftp-client')).default;
  const plain = new SftpClient();
  await plain.connect({
    host: '127.0.0.1',
    port: server.port,
    username: server.user,
    privateKey: (await import('node:fs')).readFileSync(server.identityFile),
  });
  const small = Math.min(size, 20 * MiB);
  const start = process.hrtime.bigint();
  await pipeline(
    Readable.from(
      (function* () {
        for (let i = 0; i < small / MiB; i++) yield block;
      })(),
    ),
    plain.createWriteStream(`${server.root}/plain.bin`),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(
    `${'ssh2-sftp-client stream'.padEnd(28)} ${(small / MiB).toFixed(0)} MiB in ${seconds.toFixed(2)} s = ${(small / MiB / seconds).toFixed(1)} MiB/s (for comparison)`,
  );
  await plain.end();
  await destination.close?.();
} finally {
  await server.stop();
  await rm(local, { recursive: true, force: true });
}
