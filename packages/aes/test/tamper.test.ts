import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { createDecryptStream, HEADER_BYTES } from '@nexus-backup/aes';
import type { Json } from '@nexus-backup/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAes, decrypt, encrypt, PASSPHRASE, runDecoder, SMALL_CHUNK } from './support.js';

const FULL_FRAME = 4 + SMALL_CHUNK + 16;
const frameStart = (index: number) => HEADER_BYTES + index * FULL_FRAME;

function flipped(data: Buffer, offset: number, mask = 0x01): Buffer {
  const copy = Buffer.from(data);
  copy[offset] = copy[offset]! ^ mask;
  return copy;
}

function frame(data: Buffer, index: number): Buffer {
  return data.subarray(frameStart(index), frameStart(index + 1));
}

interface TamperCase {
  name: string;
  tamper(encoded: Buffer): Buffer;
  error: RegExp;
  /** Authentic plaintext bytes the decoder may release before failing (whole chunks before the damage). */
  released: number;
  passphrase?: string;
}

// 5 full chunks of 1 KiB and a final chunk of 500 bytes: frames 0-4 are 1044 bytes, frame 5 is 520.
const plaintext = randomBytes(5 * SMALL_CHUNK + 500);
let encoded: Buffer;
let otherFile: Buffer;
let params: { [key: string]: Json };

const cases: TamperCase[] = [
  {
    name: 'a flipped header byte (in the salt)',
    tamper: (file) => flipped(file, 20),
    error: /the header is corrupted \(checksum mismatch\)/,
    released: 0,
  },
  {
    name: 'a header field changed with its checksum recomputed (forged chunk size)',
    tamper: (file) => {
      const copy = Buffer.from(file);
      copy.writeUInt32BE(2048, 45);
      createHash('sha256').update(copy.subarray(0, 113)).digest().copy(copy, 113, 0, 16);
      return copy;
    },
    error: /the header failed authentication: it was modified after encryption/,
    released: 0,
  },
  {
    name: 'a changed version byte',
    tamper: (file) => flipped(file, 8, 0x03),
    error: /declares format version 2, which this build cannot read/,
    released: 0,
  },
  {
    name: 'a flipped bit in the first chunk',
    tamper: (file) => flipped(file, frameStart(0) + 4 + 10),
    error: /chunk 0 failed authentication/,
    released: 0,
  },
  {
    name: 'a flipped bit in a middle chunk',
    tamper: (file) => flipped(file, frameStart(2) + 4 + 500, 0x80),
    error: /chunk 2 failed authentication/,
    released: 2 * SMALL_CHUNK,
  },
  {
    name: 'a flipped bit in a tag',
    tamper: (file) => flipped(file, frameStart(1) + 4 + SMALL_CHUNK + 3),
    error: /chunk 1 failed authentication/,
    released: SMALL_CHUNK,
  },
  {
    name: 'a flipped bit in the final chunk',
    tamper: (file) => flipped(file, frameStart(5) + 4 + 100),
    error: /chunk 5 \(the final chunk\) failed authentication/,
    released: 5 * SMALL_CHUNK,
  },
  {
    name: 'a changed chunk length field',
    tamper: (file) => flipped(file, frameStart(3) + 3),
    error: /chunk 3 is corrupted: its length field says 1025 bytes/,
    released: 3 * SMALL_CHUNK,
  },
  {
    name: 'a middle chunk marked final',
    tamper: (file) => flipped(file, frameStart(3), 0x80).subarray(0, frameStart(4)),
    error: /chunk 3 \(the final chunk\) failed authentication/,
    released: 3 * SMALL_CHUNK,
  },
  {
    name: 'truncation right after the header',
    tamper: (file) => file.subarray(0, HEADER_BYTES),
    error: /the file is truncated: it ends right after the header, and the final chunk is missing/,
    released: 0,
  },
  {
    name: 'truncation at a chunk boundary',
    tamper: (file) => file.subarray(0, frameStart(3)),
    error: /the file is truncated: it ends after chunk 2, and the final chunk is missing/,
    released: 3 * SMALL_CHUNK,
  },
  {
    name: 'truncation that drops exactly the final chunk',
    tamper: (file) => file.subarray(0, frameStart(5)),
    error: /it ends after chunk 4, and the final chunk is missing/,
    released: 5 * SMALL_CHUNK,
  },
  {
    name: 'truncation between chunk boundaries',
    tamper: (file) => file.subarray(0, frameStart(3) + 4 + 100),
    error: /the file is truncated inside chunk 3: 100 of its 1040 bytes are present/,
    released: 3 * SMALL_CHUNK,
  },
  {
    name: 'truncation inside a chunk length field',
    tamper: (file) => file.subarray(0, frameStart(2) + 2),
    error: /the file is truncated inside the length field of chunk 2/,
    released: 2 * SMALL_CHUNK,
  },
  {
    name: 'truncation of the last byte',
    tamper: (file) => file.subarray(0, file.length - 1),
    error: /the file is truncated inside chunk 5: 515 of its 516 bytes are present/,
    released: 5 * SMALL_CHUNK,
  },
  {
    name: 'truncation inside the header',
    tamper: (file) => file.subarray(0, 60),
    error: /the file is truncated inside the header: 60 of 129 bytes/,
    released: 0,
  },
  {
    name: 'an empty file',
    tamper: () => Buffer.alloc(0),
    error: /the encrypted file is empty/,
    released: 0,
  },
  {
    name: 'appended bytes',
    tamper: (file) => Buffer.concat([file, Buffer.from('x')]),
    error: /bytes were appended after the final chunk \(chunk 5\)/,
    released: 5 * SMALL_CHUNK,
  },
  {
    name: 'two swapped chunks',
    tamper: (file) =>
      Buffer.concat([
        file.subarray(0, frameStart(1)),
        frame(file, 2),
        frame(file, 1),
        file.subarray(frameStart(3)),
      ]),
    error: /chunk 1 failed authentication: .*reordered/,
    released: SMALL_CHUNK,
  },
  {
    name: 'a dropped middle chunk',
    tamper: (file) => Buffer.concat([file.subarray(0, frameStart(2)), file.subarray(frameStart(3))]),
    error: /chunk 2 failed authentication/,
    released: 2 * SMALL_CHUNK,
  },
  {
    name: 'a chunk spliced in from another file encrypted with the same passphrase',
    tamper: (file) =>
      Buffer.concat([file.subarray(0, frameStart(2)), frame(otherFile, 2), file.subarray(frameStart(3))]),
    error: /chunk 2 failed authentication: .*spliced in from another file/,
    released: 2 * SMALL_CHUNK,
  },
  {
    name: 'a wrong passphrase',
    tamper: (file) => file,
    passphrase: 'not the passphrase',
    error: /wrong passphrase: it does not match the key check in the header \(nothing was decrypted\)/,
    released: 0,
  },
  {
    name: 'a foreign file (gzip)',
    tamper: () => gzipSync(plaintext),
    error: /not a nexus-backup encrypted file/,
    released: 0,
  },
];

describe('aes nexus format detects tampering before releasing a wrong byte', () => {
  beforeAll(async () => {
    const transform = await createAes();
    ({ encoded, params } = await encrypt(transform, plaintext));
    ({ encoded: otherFile } = await encrypt(transform, plaintext));
    expect(encoded.length).toBe(frameStart(5) + 4 + 500 + 16);
  });

  it('decodes the untouched file (the table below starts from a valid file)', async () => {
    const { output, error } = await decrypt(await createAes(), encoded, params);
    expect(error).toBeUndefined();
    expect(output.equals(plaintext)).toBe(true);
  });

  for (const tamperCase of cases) {
    for (const pieceSize of [64 * 1024, 1]) {
      it(`reports ${tamperCase.name} (input in ${pieceSize}-byte pieces)`, async () => {
        const damaged = tamperCase.tamper(encoded);
        const { output, error } = await decrypt(await createAes(), damaged, params, {
          passphrase: tamperCase.passphrase,
          pieceSize,
        });
        expect(error, 'decoding must fail').toBeDefined();
        expect(error?.code).toBe('INTEGRITY');
        expect(error?.message).toMatch(tamperCase.error);
        expect(`${error?.message} ${(error as { hint?: string }).hint ?? ''}`).not.toContain(PASSPHRASE);
        // Only whole chunks that authenticated before the damage may have left the decoder, unchanged.
        expect(output.length).toBe(tamperCase.released);
        expect(output.equals(plaintext.subarray(0, tamperCase.released))).toBe(true);
      });
    }
  }

  it('reports the same precise errors through createDecryptStream (the decrypt command)', async () => {
    for (const tamperCase of cases.filter((each) => each.name !== 'a foreign file (gzip)')) {
      const damaged = tamperCase.tamper(encoded);
      const passphrase = tamperCase.passphrase ?? PASSPHRASE;
      const { output, error } = await runDecoder(createDecryptStream({ passphrase }), damaged);
      expect(error?.code, tamperCase.name).toBe('INTEGRITY');
      expect(error?.message, tamperCase.name).toMatch(
        tamperCase.name === 'an empty file' || tamperCase.name === 'truncation inside the header'
          ? /too short|truncated inside the header/
          : tamperCase.error,
      );
      expect(output.equals(plaintext.subarray(0, tamperCase.released)), tamperCase.name).toBe(true);
    }
  });
});
