import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { NexusError } from '@nexus-backup/core';
import { gzip } from '@nexus-backup/gzip';
import { createTestContext, failingStream, MiB, randomStream, sha256 } from '@nexus-backup/testkit';
import { describe, expect, it } from 'vitest';

async function encode(input: Buffer, options: { level: number; parallel: number }): Promise<Buffer> {
  const transform = await gzip.create(options);
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  await pipeline(Readable.from([input]), await transform.encode(createTestContext()), sink);
  return Buffer.concat(chunks);
}

/** Runs the system's gunzip binary, the tool a person would reach for without nexus-backup. */
function systemGunzip(compressed: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('gunzip', ['-c'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`gunzip exited ${code}: ${stderr}`));
    });
    child.stdin.end(compressed);
  });
}

/** Text-like data: compressible, but not trivially (a dump of rows). */
function sampleText(bytes: number): Buffer {
  const rows: string[] = [];
  let size = 0;
  for (let row = 0; size < bytes; row++) {
    const line = `${row}\tuser-${(row * 7919) % 10007}@example.com\t${(row * 31) % 997}\t2026-11-${(row % 28) + 1}\n`;
    rows.push(line);
    size += line.length;
  }
  return Buffer.from(rows.join('')).subarray(0, bytes);
}

async function randomBytesOf(bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of randomStream(bytes).stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('gzip', () => {
  for (const parallel of [0, 2]) {
    const mode = parallel === 0 ? 'single-threaded' : 'parallel';

    it(`writes ${mode} output that the gunzip binary restores byte-exact`, async () => {
      const input = Buffer.concat([sampleText(3 * MiB), await randomBytesOf(MiB / 2 + 17)]);
      const restored = await systemGunzip(await encode(input, { level: 6, parallel }));
      expect(sha256(restored)).toBe(sha256(input));
    });

    it(`writes ${mode} output of an empty input that gunzip reads as empty`, async () => {
      expect((await systemGunzip(await encode(Buffer.alloc(0), { level: 6, parallel }))).length).toBe(0);
    });
  }

  it('records the level in params', async () => {
    expect((await gzip.create({ level: 3, parallel: 0 })).params()).toMatchObject({ level: 3 });
    expect((await gzip.create({ level: 9, parallel: 2 })).params()).toMatchObject({ level: 9 });
  });

  it('compresses smaller at level 9 than at level 1', async () => {
    const input = sampleText(2 * MiB);
    const fast = await encode(input, { level: 1, parallel: 0 });
    const small = await encode(input, { level: 9, parallel: 0 });
    expect(small.length).toBeLessThan(fast.length);
    expect(fast.length).toBeLessThan(input.length / 2);
  });

  it('honours the level in parallel mode too', async () => {
    const input = sampleText(3 * MiB);
    const fast = await encode(input, { level: 1, parallel: 2 });
    const small = await encode(input, { level: 9, parallel: 2 });
    expect(small.length).toBeLessThan(fast.length);
  });

  it('emits one gzip member per 1 MiB block in parallel mode, in input order', async () => {
    const input = sampleText(3 * MiB + 5);
    const encoded = await encode(input, { level: 6, parallel: 2 });
    // Every member starts with the gzip magic, deflate method and no flags: 1f 8b 08 00.
    const magic = Buffer.from([0x1f, 0x8b, 0x08, 0x00]);
    const starts: number[] = [];
    for (let at = encoded.indexOf(magic); at !== -1; at = encoded.indexOf(magic, at + 1)) starts.push(at);
    const members = starts
      .map((start, index) => encoded.subarray(start, starts[index + 1] ?? encoded.length))
      .filter((member) => {
        try {
          gunzipSync(member);
          return true;
        } catch {
          return false; // the magic bytes happened to occur inside compressed data
        }
      });
    expect(members.map((member) => gunzipSync(member).length)).toEqual([MiB, MiB, MiB, 5]);
    expect(sha256(Buffer.concat(members.map((member) => gunzipSync(member))))).toBe(sha256(input));
  });

  it.each([
    ['an invalid block', (bytes: Buffer) => bytes.fill(0xff, 10, 26), 'invalid block type'],
    ['a cut-off end', (bytes: Buffer) => bytes.subarray(0, bytes.length - 100), 'unexpected end of file'],
  ])(
    'decoding %s fails with one INTEGRITY error in its own words, never raw zlib',
    async (_, damage, detail) => {
      const stored = damage(await encode(Buffer.alloc(200_000, 'nexus '), { level: 6, parallel: 0 }));
      const decoder = await (await gzip.create({ level: 6, parallel: 0 })).decode(createTestContext(), {});
      const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
      const error = await pipeline(Readable.from([stored]), decoder, sink).catch(
        (e: unknown) => e as NexusError,
      );
      expect(error).toBeInstanceOf(NexusError);
      expect(error).toMatchObject({
        code: 'INTEGRITY',
        provider: 'gzip',
        message: `gzip data is damaged (${detail})`,
      });
    },
  );

  it('refuses levels outside 1-9 and a negative or fractional thread count', async () => {
    for (const options of [
      { level: 0, parallel: 0 },
      { level: 10, parallel: 0 },
      { level: 6.5, parallel: 0 },
      { level: 6, parallel: -1 },
      { level: 6, parallel: 1.5 },
    ]) {
      await expect(gzip.create(options)).rejects.toMatchObject({ code: 'USAGE', provider: 'gzip' });
    }
  });
});

describe('gzip parallel mode worker threads', () => {
  /** OS threads of this process: worker threads show up here, and nowhere in Node's resource list. */
  const threadCount = () => readdirSync('/proc/self/task').length;

  it('are all stopped by the time the encoding has finished', async () => {
    await encode(sampleText(MiB), { level: 1, parallel: 2 }); // lets lazily made threads settle first
    const before = threadCount();
    await encode(sampleText(3 * MiB), { level: 1, parallel: 2 });
    expect(threadCount()).toBe(before);
  });

  it('are all stopped once an encoder whose input failed has closed', async () => {
    await encode(sampleText(MiB), { level: 1, parallel: 2 });
    const before = threadCount();
    const encoder = await (await gzip.create({ level: 1, parallel: 2 })).encode(createTestContext());
    const closed = new Promise((resolve) => encoder.once('close', resolve));
    const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    await expect(pipeline(failingStream(3 * MiB), encoder, sink)).rejects.toThrow();
    await closed;
    expect(threadCount()).toBe(before);
  });
});
