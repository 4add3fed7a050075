import { randomBytes } from 'node:crypto';
import { HEADER_BYTES, MAGIC } from '@nexus-backup/aes';
import { describe, expect, it } from 'vitest';
import { createAes, decrypt, encrypt, SMALL_CHUNK } from './support.js';

const FRAME_OVERHEAD = 4 + 16;

describe('aes nexus format round trips', () => {
  const cases: Array<[string, number]> = [
    ['0 bytes', 0],
    ['1 byte', 1],
    ['exactly one chunk', SMALL_CHUNK],
    ['one chunk and one byte', SMALL_CHUNK + 1],
    ['exactly three chunks', 3 * SMALL_CHUNK],
    ['many chunks', 200 * SMALL_CHUNK + 17],
  ];
  for (const [label, size] of cases) {
    it(`round-trips ${label} with a 129-byte header and one 20-byte-overhead frame per chunk`, async () => {
      const transform = await createAes();
      const plaintext = randomBytes(size);
      const { encoded, params } = await encrypt(transform, plaintext);
      const frames = Math.max(1, Math.ceil(size / SMALL_CHUNK));
      expect(encoded.length).toBe(HEADER_BYTES + size + frames * FRAME_OVERHEAD);
      expect(encoded.subarray(0, MAGIC.length).equals(MAGIC)).toBe(true);
      const { output, error } = await decrypt(await createAes(), encoded, params);
      expect(error).toBeUndefined();
      expect(output.equals(plaintext)).toBe(true);
    });
  }

  it('decodes input arriving one byte at a time and in pieces that straddle frames', async () => {
    const transform = await createAes();
    const plaintext = randomBytes(3 * SMALL_CHUNK + 100);
    const { encoded, params } = await encrypt(transform, plaintext);
    for (const pieceSize of [1, 7, 1043, 1045, 4096]) {
      const { output, error } = await decrypt(await createAes(), encoded, params, { pieceSize });
      expect(error, `piece size ${pieceSize}`).toBeUndefined();
      expect(output.equals(plaintext), `piece size ${pieceSize}`).toBe(true);
    }
  });

  it('round-trips 8 MiB of random data in 64 KiB chunks', async () => {
    const transform = await createAes({ chunkSize: 64 * 1024 });
    const plaintext = randomBytes(8 * 1024 * 1024);
    const { encoded, params } = await encrypt(transform, plaintext);
    const { output, error } = await decrypt(await createAes(), encoded, params);
    expect(error).toBeUndefined();
    expect(output.equals(plaintext)).toBe(true);
  });

  it('round-trips with the default 1 MiB chunks and scrypt parameters (N=2^17, r=8, p=1) written into the header', async () => {
    const transform = await createAes({}, { fast: false });
    const plaintext = randomBytes(2.5 * 1024 * 1024);
    const { encoded, params } = await encrypt(transform, plaintext);
    expect(params).toMatchObject({
      format: 'nexus',
      chunkSize: 1048576,
      scryptLogN: 17,
      scryptR: 8,
      scryptP: 1,
    });
    expect([encoded[10], encoded[11], encoded[12]]).toEqual([17, 8, 1]);
    // A fresh instance, so the decoder runs scrypt itself instead of reusing the encoder's cached key.
    const { output, error } = await decrypt(await createAes({}, { fast: false }), encoded, params);
    expect(error).toBeUndefined();
    expect(output.equals(plaintext)).toBe(true);
  });

  it('gives every file its own id, so two encryptions of the same data differ', async () => {
    const transform = await createAes();
    const plaintext = randomBytes(5000);
    const first = await encrypt(transform, plaintext);
    const second = await encrypt(transform, plaintext);
    expect(first.encoded.subarray(49, 65).equals(second.encoded.subarray(49, 65))).toBe(false);
    expect(first.encoded.subarray(HEADER_BYTES).equals(second.encoded.subarray(HEADER_BYTES))).toBe(false);
  });
});
