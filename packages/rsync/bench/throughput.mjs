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
const record = (label, bytes, seconds) => {
  const list = results.get(label) ?? [];
  list.push(bytes / MiB / seconds);
  results.set(label, list);
};
const time = async (label, bytes, fn) => {
  const start = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  record(label, bytes, seconds);
  return seconds;
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

  const scpUpload = () => run('scp', [...ssh, '-P', String(server.port), file, `${remote}/scp.bin`]);
  // read the way `mirror` reads a local repository: through the local provider
  const sftpPut = async () =>
    destination.put('bench/payload.bin', await localFiles.get('payload.bin', ctx), ctx);
  const scpDownload = () =>
    run('scp', [...ssh, '-P', String(server.port), `${remote}/scp.bin`, join(local, 'scp-back.bin')]);
  const sftpGet = async () => {
    const target = join(local, 'sftp-back.bin');
    await pipeline(await destination.get('bench/payload.bin', ctx), createWriteStream(target));
    const back = await stat(target);
    if (back.size !== size) throw new Error(`downloaded ${back.size} bytes instead of ${size}`);
  };
  const timeSync = async () => {
    const start = process.hrtime.bigint();
    await run('sync');
    return Number(process.hrtime.bigint() - start) / 1e9;
  };
  for (let round = 0; round < rounds; round++) {
    // Who goes first alternates, and dirty pages are flushed before each timing: otherwise one
    // tool's writeback lands on the next one's clock.
    const pairs = [
      [
        ['scp upload', scpUpload],
        ['sftp destination put', sftpPut],
      ],
      [
        ['scp download', scpDownload],
        ['sftp destination get', sftpGet],
      ],
    ];
    for (const pair of pairs) {
      for (const [label, fn] of round % 2 === 0 ? pair : [...pair].reverse()) {
        await run('sync');
        const seconds = await time(label, size, fn);
        // Our put ends with an fsync of the remote file (a backup must be on disk before it is
        // renamed into place); scp never syncs. Flushing what scp wrote makes the durable comparison.
        if (label === 'scp upload') record('scp upload + sync', size, seconds + (await timeSync()));
      }
    }
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
  // This machine's speed drifts between rounds, so each round's pair is compared with itself.
  for (const [ours, theirs] of [
    ['sftp destination put', 'scp upload'],
    ['sftp destination put', 'scp upload + sync'],
    ['sftp destination get', 'scp download'],
  ]) {
    const ratios = results.get(ours).map((value, round) => value / results.get(theirs)[round]);
    console.log(
      `${`${ours} / ${theirs}`.padEnd(46)} median ${median(ratios).toFixed(2)}x   (${ratios.map((r) => r.toFixed(2)).join(', ')})`,
    );
  }
} finally {
  await server.stop();
  await rm(local, { recursive: true, force: true });
}
