// Streams BENCH_MB (default 2048) MiB of incompressible data into an s3 repository on a loopback S3 server
// and prints this process's peak RSS and the throughput, next to writing the same stream to a local file.
// Run: pnpm --filter @nexus-backup/s3 bench     (BENCH_MB=512 BENCH_SERVER=fauxqs|s3rver to change)
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { s3 } from '@nexus-backup/s3';
import { createTestContext } from '@nexus-backup/testkit';
import { startS3Server } from '@nexus-backup/testkit/s3';

const MiB = 1024 * 1024;
const sizeMiB = Number(process.env.BENCH_MB ?? 2048);
const kind = process.env.BENCH_SERVER ?? 's3rver';
const block = randomBytes(MiB);

/** `sizeMiB` MiB in 64 KiB chunks, like a file or a transform stage would deliver them. */
function payload() {
  return Readable.from(
    (function* () {
      for (let mib = 0; mib < sizeMiB; mib++) {
        for (let offset = 0; offset < MiB; offset += 64 * 1024)
          yield block.subarray(offset, offset + 64 * 1024);
      }
    })(),
  );
}

async function time(label, fn) {
  const start = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(
    `${label.padEnd(34)} ${sizeMiB} MiB in ${seconds.toFixed(1)} s = ${(sizeMiB / seconds).toFixed(1)} MiB/s`,
  );
}

const server = await startS3Server({ kind });
const local = await mkdtemp(join(tmpdir(), 'nexus-s3-bench-'));
try {
  process.env.AWS_ACCESS_KEY_ID = server.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = server.credentials.secretAccessKey;
  const url = new URL(
    `s3://${server.bucket}/bench?region=${server.region}&endpoint=${server.endpoint}&forcePathStyle=true`,
  );
  const destination = await s3.create(s3.fromUrl(url));
  const ctx = createTestContext();
  const rssBefore = process.memoryUsage().rss;
  await time(`s3 put (${kind}, 8 MiB x 4 parts)`, () => destination.put('payload.bin', payload(), ctx));
  const peak = process.resourceUsage().maxRSS * 1024; // maxRSS is in KiB
  console.log(
    `peak RSS of this process: ${(peak / MiB).toFixed(0)} MiB (${(rssBefore / MiB).toFixed(0)} MiB before the upload)`,
  );
  await destination.delete(['payload.bin'], ctx);
  await destination.close();
  await time('local file (fs write stream)', () =>
    pipeline(payload(), createWriteStream(join(local, 'payload.bin'))),
  );
} finally {
  await rm(local, { recursive: true, force: true });
  await server.stop();
}
