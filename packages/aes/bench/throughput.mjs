// Measures nexus/openssl encrypt and decrypt throughput, and what encryption adds to a gzip-6 pipeline.
// Run after a build: node packages/aes/bench/throughput.mjs [MiB]   (numbers go into README.md)
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { aes } from '../dist/index.js';

const MiB = 1024 * 1024;
const totalMiB = Number(process.argv[2] ?? 256);
const ctx = {
  signal: new AbortController().signal,
  log: console,
  secrets: { passphrase: async () => 'bench passphrase' },
};
const fast = { scryptLogN: 10, scryptR: 8, scryptP: 1, iter: 1000 };

function source(block) {
  let left = totalMiB * MiB;
  return new Readable({
    read() {
      if (left <= 0) return this.push(null);
      const piece = block.subarray(0, Math.min(64 * 1024, left));
      left -= piece.length;
      this.push(Buffer.from(piece)); // a fresh buffer per piece, like a file read
    },
  });
}

function sink(keep) {
  return new Writable({
    write(chunk, _encoding, callback) {
      keep?.push(chunk);
      callback();
    },
  });
}

/**
 * Best of three runs, by wall time and by process CPU time (all threads): the machine is shared, so
 * the fastest run is the least disturbed one, and CPU time is what the work itself costs.
 */
async function timed(label, makeStages, bytes = totalMiB * MiB) {
  let wall = Number.POSITIVE_INFINITY;
  let cpu = Number.POSITIVE_INFINITY;
  for (let run = 0; run < 3; run++) {
    const stages = await makeStages();
    const startedCpu = process.cpuUsage();
    const started = performance.now();
    await pipeline(...stages);
    wall = Math.min(wall, (performance.now() - started) / 1000);
    const used = process.cpuUsage(startedCpu);
    cpu = Math.min(cpu, (used.user + used.system) / 1e6);
  }
  const rate = (seconds) => `${(bytes / MiB / seconds).toFixed(0).padStart(5)} MB/s`;
  console.log(
    `${label.padEnd(42)} wall ${rate(wall)} ${wall.toFixed(2)} s | cpu ${rate(cpu)} ${cpu.toFixed(2)} s`,
  );
  return { wall, cpu };
}

const random = randomBytes(MiB);
// Text that compresses roughly like a SQL dump (about 3.5:1 at level 6).
const text = Buffer.from(
  Array.from(
    { length: 40_000 },
    (_, i) => `${i}\tuser-${i % 977}@example.com\t${(i * 7919) % 100000}\t2026-11-26\n`,
  ).join(''),
).subarray(0, MiB);

console.log(`${totalMiB} MiB per run, best of 3, node ${process.version}`);
for (const chunkSize of [64 * 1024, MiB]) {
  const transform = await aes.create({ format: 'nexus', chunkSize, ...fast });
  const encoded = [];
  await timed(`nexus encrypt, ${chunkSize / 1024} KiB chunks`, async () => {
    encoded.length = 0;
    return [source(random), await transform.encode(ctx), sink(encoded)];
  });
  await timed(`nexus decrypt, ${chunkSize / 1024} KiB chunks`, async () => [
    Readable.from(encoded),
    await transform.decode(ctx, transform.params()),
    sink(),
  ]);
}
{
  const transform = await aes.create({ format: 'openssl', chunkSize: 65536, ...fast });
  const encoded = [];
  await timed('openssl-compatible encrypt (aes-256-cbc)', async () => {
    encoded.length = 0;
    return [source(random), await transform.encode(ctx), sink(encoded)];
  });
  await timed('openssl-compatible decrypt (aes-256-cbc)', async () => [
    Readable.from(encoded),
    await transform.decode(ctx, transform.params()),
    sink(),
  ]);
}
const transform = await aes.create({ format: 'nexus', chunkSize: MiB, ...fast });
const compressed = [];
const gzipOnly = await timed('gzip -6 alone (SQL-like text)', async () => {
  compressed.length = 0;
  return [source(text), createGzip({ level: 6 }), sink(compressed)];
});
const compressedBytes = compressed.reduce((sum, chunk) => sum + chunk.length, 0);
const aesOnly = await timed(
  'nexus encrypt of that gzip output',
  async () => [Readable.from(compressed), await transform.encode(ctx), sink()],
  compressedBytes,
);
const together = await timed('gzip -6 then nexus aes, one pipeline', async () => [
  source(text),
  createGzip({ level: 6 }),
  await transform.encode(ctx),
  sink(),
]);
const percent = (part, whole) => `${((part / whole) * 100).toFixed(1)}%`;
console.log(`encrypting gzip's output costs ${percent(aesOnly.cpu, gzipOnly.cpu)} of gzip's CPU time`);
console.log(
  `one pipeline: gzip+aes wall ${together.wall.toFixed(2)} s vs gzip alone ${gzipOnly.wall.toFixed(2)} s ` +
    `(cpu ${together.cpu.toFixed(2)} s vs ${gzipOnly.cpu.toFixed(2)} s, +${percent(together.cpu - gzipOnly.cpu, gzipOnly.cpu)})`,
);
