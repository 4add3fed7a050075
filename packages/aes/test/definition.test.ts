import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { aes } from '@nexus-backup/aes';
import type { RunContext } from '@nexus-backup/core';
import { createTestContext } from '@nexus-backup/testkit';
import { describe, expect, it } from 'vitest';
import { collectInto, context, createAes, decrypt, encrypt, PASSPHRASE, pieces } from './support.js';

describe('aes transform definition', () => {
  it('declares an encrypting transform with the .aes extension', () => {
    expect(aes).toMatchObject({ kind: 'transform', name: 'aes', extension: '.aes', encrypts: true });
  });

  it('is authenticated in the nexus format and not in the openssl format (restore then checks SHA-256 first)', async () => {
    const nexus = (await createAes()).params();
    const openssl = (await createAes({ format: 'openssl' })).params();
    expect(aes.authenticated?.(nexus)).toBe(true);
    expect(aes.authenticated?.(openssl)).toBe(false);
  });

  it('records decode parameters, and never the passphrase, in params()', async () => {
    const nexus = await createAes();
    const openssl = await createAes({ format: 'openssl', iter: 250_000 });
    await encrypt(nexus, randomBytes(10));
    await encrypt(openssl, randomBytes(10));
    expect(nexus.params()).toEqual({
      format: 'nexus',
      version: 1,
      cipher: 'aes-256-gcm',
      chunkSize: 1024,
      kdf: 'scrypt',
      scryptLogN: 10,
      scryptR: 8,
      scryptP: 1,
      // The files' salt (each header holds it too), so a restore starts scrypt before reading one.
      salt: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(openssl.params()).toEqual({
      format: 'openssl',
      cipher: 'aes-256-cbc',
      kdf: 'pbkdf2',
      md: 'sha256',
      iter: 250_000,
      command: 'openssl enc -d -aes-256-cbc -pbkdf2 -iter 250000 -md sha256 -in FILE -out OUT',
    });
    expect(JSON.stringify([nexus.params(), openssl.params()])).not.toContain(PASSPHRASE);
  });

  it('refuses unsafe or unusable options by their declared rules, naming where the value was', async () => {
    for (const [values, message] of [
      [
        { chunkSize: 100 },
        /aes chunkSize must be a whole number from 1024 to 16777216, got 100 \(transforms\.aes\.chunkSize\)/,
      ],
      [{ scryptLogN: 30 }, /aes scryptLogN must be a whole number from 10 to 22, got 30/],
      [{ scryptP: 0 }, /aes scryptP must be a whole number from 1 to 16, got 0/],
      [
        { scryptLogN: 22, scryptR: 16 },
        /aes scrypt N=2\^22 r=16 needs more than 2 GiB of memory \(transforms\.aes\.scryptLogN\)/,
      ],
      [{ iter: 10 }, /aes iter must be a whole number of at least 1000, got 10/],
    ] as const) {
      await expect(createAes(values)).rejects.toMatchObject({ code: 'CONFIG', message });
    }
    await expect(createAes({ format: 'gpg' })).rejects.toMatchObject({
      code: 'CONFIG',
      message: /must be one of nexus, openssl/,
    });
  });

  it('checks the same rules, the memory rule over N and r included, when create is called without resolving', async () => {
    const values = { format: 'nexus', chunkSize: 1024, scryptLogN: 22, scryptR: 16, scryptP: 1, iter: 1000 };
    await expect(aes.create(values)).rejects.toMatchObject({
      code: 'USAGE',
      message: 'aes scrypt N=2^22 r=16 needs more than 2 GiB of memory',
    });
    await expect(aes.create({ ...values, scryptR: 8, chunkSize: 100 })).rejects.toMatchObject({
      code: 'USAGE',
      message: 'aes chunkSize must be a whole number from 1024 to 16777216, got 100',
    });
  });

  it('asks for the passphrase only when a stream is made, with its purpose', async () => {
    const purposes: string[] = [];
    const ctx: RunContext = {
      ...createTestContext(),
      secrets: {
        async passphrase(purpose) {
          purposes.push(purpose);
          return PASSPHRASE;
        },
      },
    };
    const transform = await createAes();
    expect(purposes).toEqual([]);
    const chunks: Buffer[] = [];
    await pipeline(Readable.from([Buffer.from('hello')]), await transform.encode(ctx), collectInto(chunks));
    const decoded: Buffer[] = [];
    await pipeline(
      Readable.from(chunks),
      await transform.decode(ctx, transform.params()),
      collectInto(decoded),
    );
    expect(purposes).toEqual(['encrypt', 'decrypt']);
    expect(Buffer.concat(decoded).toString()).toBe('hello');
  });

  it('refuses an empty passphrase', async () => {
    const transform = await createAes();
    await expect(transform.encode(createTestContext({ passphrase: '' }))).rejects.toMatchObject({
      code: 'USAGE',
      message: /the passphrase is empty/,
    });
  });

  it('runs scrypt once per run: artifacts share the salt but each gets its own file id (and key)', async () => {
    const transform = await createAes();
    const first = (await encrypt(transform, randomBytes(100))).encoded;
    const second = (await encrypt(transform, randomBytes(100))).encoded;
    expect(first.subarray(13, 45).equals(second.subarray(13, 45))).toBe(true);
    expect(first.subarray(49, 65).equals(second.subarray(49, 65))).toBe(false);
    const otherRun = (await encrypt(await createAes(), randomBytes(100))).encoded;
    expect(first.subarray(13, 45).equals(otherRun.subarray(13, 45))).toBe(false);
  });

  it('refuses a manifest that names an unknown aes format', async () => {
    const transform = await createAes();
    await expect(
      transform.decode(createTestContext({ passphrase: PASSPHRASE }), { format: 'rot13' }),
    ).rejects.toMatchObject({
      code: 'INTEGRITY',
      message: /unknown aes format "rot13"/,
    });
  });

  it('decodes with backpressure: the encrypted input stays a bounded distance ahead of a slow sink', async () => {
    const transform = await createAes({ chunkSize: 64 * 1024 });
    const plaintext = randomBytes(16 * 1024 * 1024);
    const { encoded, params } = await encrypt(transform, plaintext);
    let produced = 0;
    let delivered = 0;
    let maxAhead = 0;
    const input = Readable.from(
      (function* () {
        for (const piece of pieces(encoded, 64 * 1024)) {
          produced += piece.length;
          maxAhead = Math.max(maxAhead, produced - delivered);
          yield piece;
        }
      })(),
    );
    const slowSink = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        delivered += chunk.length;
        setImmediate(callback);
      },
    });
    await pipeline(
      input,
      await transform.decode(createTestContext({ passphrase: PASSPHRASE }), params),
      slowSink,
    );
    expect(delivered).toBe(plaintext.length);
    expect(maxAhead, 'encrypted bytes read ahead of the sink').toBeLessThan(2 * 1024 * 1024);
  });
  it('prepare fails on an empty passphrase before any stream exists, and encode after it reuses its key', async () => {
    const refused = await createAes();
    await expect(refused.prepare?.(context(''))).rejects.toThrow(/the passphrase is empty/);
    const prepared = await createAes();
    await prepared.prepare?.(context());
    const plaintext = randomBytes(5000);
    const { encoded, params } = await encrypt(prepared, plaintext);
    const second = await encrypt(prepared, plaintext);
    // One scrypt per instance: both files carry the salt prepare derived with (bytes 13-44 of the header).
    expect(second.encoded.subarray(13, 45)).toEqual(encoded.subarray(13, 45));
    expect((await decrypt(prepared, encoded, params)).output).toEqual(plaintext);
    expect((await decrypt(prepared, second.encoded, params)).output).toEqual(plaintext);
  });
});
