import { spawn } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createTestContext } from '@nexus-backup/testkit';
import { zstd } from '@nexus-backup/zstd';
import { describe, expect, it } from 'vitest';

type Options = { level: number; workers: number; long: boolean };
const defaults: Options = { level: 2, workers: 0, long: false };

async function collect(input: Buffer, stage: Promise<NodeJS.ReadWriteStream>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  await pipeline(Readable.from([input]), await stage, sink);
  return Buffer.concat(chunks);
}

async function encode(input: Buffer, options: Options = defaults): Promise<Buffer> {
  const transform = await zstd.create(options);
  return collect(input, transform.encode(createTestContext()));
}

async function decode(stored: Buffer, options: Options = defaults): Promise<Buffer> {
  const transform = await zstd.create(options);
  return collect(stored, transform.decode(createTestContext(), transform.params()));
}

/** The system's zstd binary, what an operator restores with: `zstd -dc ... | psql`. */
function systemZstd(args: string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('zstd', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`zstd exited ${code}: ${stderr}`));
    });
    child.stdin.end(input);
  });
}

/** Rows of a dump: compressible, but not trivially. */
function dumpLikeText(bytes: number): Buffer {
  const rows: string[] = [];
  let size = 0;
  for (let row = 0; size < bytes; row++) {
    const line = `${row}\t{"model":"claude-${row % 7}","tokens":${(row * 7919) % 10007}}\t2026-11-${(row % 28) + 1}\n`;
    rows.push(line);
    size += line.length;
  }
  return Buffer.from(rows.join('')).subarray(0, bytes);
}

describe('zstd', () => {
  const text = dumpLikeText(8 * 1024 * 1024);

  it.each([
    ['as one frame', defaults],
    ['in 1 MiB frames, one at a time (the default)', { ...defaults, workers: 1 }],
    ['on 2 zstd threads', { ...defaults, workers: 2 }],
    ['with the long window', { ...defaults, long: true }],
  ])('writes what the system zstd -d reads, %s', async (_label, options) => {
    const stored = await encode(text, options);
    expect(stored.length).toBeLessThan(text.length / 4);
    const args = options.long ? ['-dc', '--long=27'] : ['-dc'];
    expect((await systemZstd(args, stored)).equals(text)).toBe(true);
  });

  it.each([1, 2])(
    'on %i thread(s), a stream of many writes far beyond one frame keeps its order and its end (zstd -d reads it)',
    async (workers) => {
      // Node's own threaded zstd lost the end of exactly this kind of stream (nodejs/node#59899).
      const big = dumpLikeText(41 * 1024 * 1024 + 12345);
      const transform = await zstd.create({ ...defaults, workers });
      const chunks: Buffer[] = [];
      const pieces = function* () {
        for (let offset = 0; offset < big.length; offset += 64 * 1024)
          yield big.subarray(offset, offset + 64 * 1024);
      };
      await pipeline(
        Readable.from(pieces()),
        await transform.encode(createTestContext()),
        new Writable({
          write(chunk: Buffer, _encoding, callback) {
            chunks.push(chunk);
            callback();
          },
        }),
      );
      const stored = Buffer.concat(chunks);
      expect(stored.length).toBeLessThan(big.length / 4);
      expect((await systemZstd(['-dc'], stored)).equals(big)).toBe(true);
      expect((await decode(stored)).equals(big)).toBe(true);
    },
  );

  it('on 2 threads, an empty input is one valid empty stream', async () => {
    const stored = await encode(Buffer.alloc(0), { ...defaults, workers: 2 });
    expect(stored.length).toBeGreaterThan(0);
    expect((await systemZstd(['-dc'], stored)).length).toBe(0);
  });

  it('reads what the system zstd writes', async () => {
    const stored = await systemZstd(['-c', '-9'], text);
    expect((await decode(stored)).equals(text)).toBe(true);
  });

  it('writes artifacts that, concatenated, are one stream for zstd -d (cat *.zst | zstd -dc)', async () => {
    const first = await encode(text.subarray(0, 3000));
    const second = await encode(text.subarray(3000, 9000), { ...defaults, workers: 2 });
    expect((await systemZstd(['-dc'], Buffer.concat([first, second]))).equals(text.subarray(0, 9000))).toBe(
      true,
    );
  });

  it('refuses a stored byte flipped inside a frame (the frame checksum)', async () => {
    const stored = Buffer.from(await encode(text));
    stored[Math.floor(stored.length / 2)]! ^= 0x40;
    await expect(decode(stored)).rejects.toThrow();
  });

  it('refuses a truncated stream', async () => {
    const stored = await encode(text);
    await expect(decode(stored.subarray(0, stored.length - 10))).rejects.toThrow();
  });

  it('records what decode needs and nothing secret', async () => {
    const transform = await zstd.create({ level: 9, workers: 2, long: true });
    expect(transform.params()).toEqual({ level: 9, workers: 2, long: true });
  });

  it.each([
    [{ ...defaults, level: 0 }, /level must be a whole number from 1 to 19, got 0/],
    [{ ...defaults, level: 2.5 }, /level must be a whole number/],
    [{ ...defaults, workers: -1 }, /workers must be a whole number from 0 to 64/],
  ])('refuses %o with a usage error', async (options, message) => {
    await expect(zstd.create(options)).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(message),
    });
  });
});
