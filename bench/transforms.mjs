// Throughput of our gzip and aes transforms, streamed in this process from a buffer of real dump text,
// next to the gzip and openssl binaries on the same bytes; and what encryption adds to a gzip-6 pipeline.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { aes } from '@nexus-backup/aes';
import { defaultOptions } from '@nexus-backup/core';
import { gzip } from '@nexus-backup/gzip';
import { measure } from './measure.mjs';

const PIECE = 64 * 1024; // like fs and socket reads deliver data
const ctx = {
  signal: new AbortController().signal,
  log: { info() {}, warn() {}, error() {}, debug() {} },
  secrets: { passphrase: async () => 'bench passphrase - not a secret' },
};

/** Streams `buffer` in fresh 64 KiB pieces (stages may keep or transfer what they are given). */
function source(buffer) {
  return Readable.from(
    (function* () {
      for (let at = 0; at < buffer.length; at += PIECE) yield Buffer.from(buffer.subarray(at, at + PIECE));
    })(),
  );
}

function sink(keep) {
  return new Writable({
    write(chunk, _encoding, callback) {
      keep?.push(chunk);
      callback();
    },
  });
}

/** Wall and process CPU (all threads) of one in-process pipeline. */
async function timedOnce(makeStages) {
  const stages = await makeStages();
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  await pipeline(...stages);
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  return { wall, cpu: (cpu.user + cpu.system) / 1e6 };
}

/**
 * The least disturbed of `rounds` runs (shortest wall; CPU time likewise its minimum): on a shared
 * machine the other runs measure the neighbours as much as the code.
 */
async function best(rounds, runOnce) {
  const runs = [];
  for (let round = 0; round < rounds; round++) runs.push(await runOnce());
  return runs.reduce((a, b) => ({
    ...(a.wall <= b.wall ? a : b),
    wall: Math.min(a.wall, b.wall),
    cpu: a.cpu === undefined ? undefined : Math.min(a.cpu, b.cpu),
  }));
}

/**
 * @param text a Buffer of SQL dump text
 * @returns rows `{ what, bytes, ours, theirs }` (each side `{ wall, cpu }`) and encryption's share
 */
export async function transformsBench({ text, work, rounds }) {
  const file = join(work, 'transform-input.sql');
  await writeFile(file, text);
  const gz = await gzip.create({ ...defaultOptions(gzip.options), level: 6, parallel: 0 });
  const gzParallel = await gzip.create({ ...defaultOptions(gzip.options), level: 6, parallel: 2 });
  // The KDF runs once per stream; a cheap scrypt keeps it out of a bulk-throughput number.
  const cipher = await aes.create({ ...defaultOptions(aes.options), format: 'nexus', scryptLogN: 12 });
  const opensslCompat = await aes.create({ ...defaultOptions(aes.options), format: 'openssl', iter: 10_000 });
  const openssl = (...args) => [
    'openssl',
    'enc',
    ...args,
    '-aes-256-cbc',
    '-pbkdf2',
    '-pass',
    'env:BENCH_PASSPHRASE',
  ];
  const shellEnv = { env: { BENCH_PASSPHRASE: 'bench passphrase - not a secret' } };
  const ours = (makeStages) => best(rounds, () => timedOnce(makeStages));
  const theirs = (stages, options = shellEnv) => best(rounds, () => measure(stages, options));

  // Inputs for the decoders, made once, untimed.
  const compressed = [];
  await pipeline(source(text), await gz.encode(ctx), sink(compressed));
  const gzFile = join(work, 'transform-input.sql.gz');
  await writeFile(gzFile, Buffer.concat(compressed));
  const encrypted = [];
  await pipeline(source(text), await cipher.encode(ctx), sink(encrypted));
  const encFile = join(work, 'transform-input.sql.enc');
  await measure([openssl('-e', '-in', file, '-out', encFile)], shellEnv);

  const gzipOurs = await ours(async () => [source(text), await gz.encode(ctx), sink()]);
  const gzipTheirs = await theirs([['gzip', '-6', '-c', file]]);
  const opensslEncrypt = await theirs([openssl('-e', '-in', file)]);
  const gzipThenAes = await ours(async () => [
    source(text),
    await gz.encode(ctx),
    await cipher.encode(ctx),
    sink(),
  ]);
  const shellBoth = await theirs([['gzip', '-6', '-c', file], openssl('-e')]);
  const rows = [
    { what: 'gzip -6 compress', ours: gzipOurs, theirs: gzipTheirs },
    {
      what: 'gzip -6 on 2 threads (--gzip-parallel 2) vs gzip',
      ours: await ours(async () => [source(text), await gzParallel.encode(ctx), sink()]),
      theirs: gzipTheirs,
    },
    {
      what: 'gunzip',
      ours: await ours(async () => [
        source(Buffer.concat(compressed)),
        await gz.decode(ctx, gz.params()),
        sink(),
      ]),
      theirs: await theirs([['gunzip', '-c', gzFile]]),
    },
    {
      what: 'encrypt (nexus AES-256-GCM vs openssl CBC)',
      ours: await ours(async () => [source(text), await cipher.encode(ctx), sink()]),
      theirs: opensslEncrypt,
    },
    {
      what: 'decrypt (nexus AES-256-GCM vs openssl CBC)',
      ours: await ours(async () => [
        Readable.from(encrypted),
        await cipher.decode(ctx, cipher.params()),
        sink(),
      ]),
      theirs: await theirs([openssl('-d', '-in', encFile)]),
    },
    {
      what: 'encrypt (openssl-compatible mode vs openssl)',
      ours: await ours(async () => [source(text), await opensslCompat.encode(ctx), sink()]),
      theirs: opensslEncrypt,
    },
    { what: 'gzip -6 then encrypt, one pipeline', ours: gzipThenAes, theirs: shellBoth },
  ].map((row) => ({ ...row, bytes: text.length }));

  // Encryption's share of a gzip-6 pipeline: the time to encrypt gzip's output over the time to
  // compress plus encrypt it. From two separate measurements, since the difference of two noisy
  // pipeline timings (with and without aes) is mostly noise when encryption is this cheap.
  const encryptCompressed = await ours(async () => [
    Readable.from(compressed),
    await cipher.encode(ctx),
    sink(),
  ]);
  const opensslCompressed = await theirs([openssl('-e', '-in', gzFile)]);
  const share = (encrypt, compress, key) => encrypt[key] / (encrypt[key] + compress[key]);
  return {
    rows,
    compressedBytes: compressed.reduce((sum, chunk) => sum + chunk.length, 0),
    encryptCompressed,
    share: {
      ours: {
        wall: share(encryptCompressed, gzipOurs, 'wall'),
        cpu: share(encryptCompressed, gzipOurs, 'cpu'),
      },
      theirs: {
        wall: share(opensslCompressed, gzipTheirs, 'wall'),
        cpu: share(opensslCompressed, gzipTheirs, 'cpu'),
      },
    },
  };
}
