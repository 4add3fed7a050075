// Compresses a generated SQL-like dump with each mode and prints MB/s and ratio. Not a test: numbers
// depend on the machine and its load. Usage:
//   node --expose-gc packages/gzip/bench/throughput.mjs [MiB] [threads...]
// With --expose-gc the garbage of generating the input is collected before each run, so it is not
// billed to whichever mode happens to run first.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzip } from '@nexus-backup/gzip';

const mib = Number(process.argv[2] ?? 64);
const threadCounts = process.argv.slice(3).map(Number);
if (threadCounts.length === 0) threadCounts.push(0, 1, 2);

const rows = [];
for (let row = 0, size = 0; size < mib * 1024 * 1024; row++) {
  const line = `${row}\tuser-${(row * 7919) % 100003}@example.com\t${(row * 2654435761) % 1000003}\t2026-11-${(row % 28) + 1}T${row % 24}:00:00Z\n`;
  rows.push(line);
  size += line.length;
}
const input = Buffer.from(rows.join(''));
rows.length = 0;
const ctx = { signal: new AbortController().signal, log: console, secrets: {} };

for (const level of [1, 6]) {
  for (const parallel of threadCounts) {
    const transform = await gzip.create({ level, parallel });
    let out = 0;
    globalThis.gc?.();
    const started = process.hrtime.bigint();
    const cpuBefore = process.cpuUsage();
    await pipeline(
      Readable.from(chunks(input, 64 * 1024)),
      await transform.encode(ctx),
      new Writable({
        write(chunk, _encoding, callback) {
          out += chunk.length;
          callback();
        },
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6; // all threads of the process, workers included
    console.log(
      `level ${level} parallel ${parallel}: ${(input.length / 1e6 / seconds).toFixed(1)} MB/s wall, ` +
        `${(input.length / 1e6 / cpuSeconds).toFixed(1)} MB per CPU-second, ratio ${(out / input.length).toFixed(4)}`,
    );
  }
}

function* chunks(data, size) {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}
