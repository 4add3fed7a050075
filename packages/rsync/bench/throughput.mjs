// Throughput of the sftp destination against scp: the same file, the same loopback sshd, rounds
// interleaved so a busy machine slows both alike; medians are printed. No assertions: numbers only.
// Run: pnpm --filter @nexus-backup/rsync bench   (BENCH_MB=200 BENCH_ROUNDS=3 to change the size,
// BENCH_REQUESTS=N to try another number of requests in flight)
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { local as localProvider } from '@nexus-backup/local';
import { sftp } from '@nexus-backup/rsync';
import { createTestContext } from '@nexus-backup/testkit';
import { startSshd } from '@nexus-backup/testkit/sshd';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const megabytes = Number(process.env.BENCH_MB ?? 200);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const size = megabytes * MiB;
const block = randomBytes(MiB);
const repeated = (count) =>
  Readable.from(
    (function* () {
      for (let i = 0; i < count; i++) yield block;
    })(),
  );

const server = await startSshd();
const local = await mkdtemp(join(tmpdir(), 'nexus-bench-'));
const results = new Map();
const time = async (label, bytes, fn) => {
  const start = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const list = results.get(label) ?? [];
  list.push(bytes / MiB / seconds);
  results.set(label, list);
};
try {
  const file = join(local, 'payload.bin');
  await pipeline(repeated(megabytes), createWriteStream(file));
  const ssh = [
    '-i',
    server.identityFile,
    '-o',
    `UserKnownHostsFile=${server.knownHostsFile}`,
    '-o',
    'BatchMode=yes',
  ];
  const remote = `${server.user}@127.0.0.1:${server.root}`;
  const url = `sftp://${server.user}@127.0.0.1:${server.port}${server.root}/repo?identity=${server.identityFile}&knownHosts=${server.knownHostsFile}${process.env.BENCH_REQUESTS ? `&requests=${process.env.BENCH_REQUESTS}` : ''}`;
  const destination = await sftp.create(sftp.fromUrl(new URL(url)));
  const ctx = createTestContext();
  const localFiles = await localProvider.create(localProvider.fromUrl(new URL(`file://${local}`)));
  await destination.put('warmup.bin', Readable.from([Buffer.alloc(1)]), ctx); // connect outside the timing

  for (let round = 0; round < rounds; round++) {
    await time('scp upload', size, () =>
      run('scp', [...ssh, '-P', String(server.port), file, `${remote}/scp.bin`]),
    );
    // read the way `mirror` reads a local repository: through the local provider
    await time('sftp destination put', size, async () =>
      destination.put('bench/payload.bin', await localFiles.get('payload.bin', ctx), ctx),
    );
    await time('scp download', size, () =>
      run('scp', [...ssh, '-P', String(server.port), `${remote}/scp.bin`, join(local, 'scp-back.bin')]),
    );
    await time('sftp destination get', size, async () =>
      pipeline(
        await destination.get('bench/payload.bin', ctx),
        createWriteStream(join(local, 'sftp-back.bin')),
      ),
    );
    const back = await stat(join(local, 'sftp-back.bin'));
    if (back.size !== size) throw new Error(`downloaded ${back.size} bytes instead of ${size}`);
  }
  await destination.close?.();

  // For comparison: ssh2-sftp-client's own write stream (one request at a time), on a smaller file.
  const SftpClient = (await import('ssh2-sftp-client')).default;
  const plain = new SftpClient();
  await plain.connect({
    host: '127.0.0.1',
    port: server.port,
    username: server.user,
    privateKey: readFileSync(server.identityFile),
  });
  const small = Math.min(megabytes, 20);
  await time('ssh2-sftp-client stream', small * MiB, () =>
    pipeline(repeated(small), plain.createWriteStream(`${server.root}/plain.bin`)),
  );
  await plain.end();

  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  console.log(`${megabytes} MiB, ${rounds} rounds, median MiB/s (all rounds)`);
  for (const [label, values] of results) {
    console.log(
      `${label.padEnd(26)} ${median(values).toFixed(1).padStart(7)}   (${values.map((v) => v.toFixed(0)).join(', ')})`,
    );
  }
} finally {
  await server.stop();
  await rm(local, { recursive: true, force: true });
}
