import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { MAX_BYTES_BEFORE_KEY, NexusEncryptStream } from '../src/nexus-encrypt-stream.js';
import { deriveMasterKey, type MasterKey } from '../src/nexus-keys.js';
import { createAes, decrypt, encrypt, FAST_SCRYPT, PASSPHRASE, pieces, SMALL_CHUNK } from './support.js';

const PARAMS = { logN: FAST_SCRYPT.scryptLogN, r: FAST_SCRYPT.scryptR, p: FAST_SCRYPT.scryptP };

/** A key the test hands over when it chooses, as a slow scrypt would. */
function keyLater(): { promise: Promise<MasterKey>; give(): Promise<void>; fail(error: Error): void } {
  let settle: { resolve(key: MasterKey): void; reject(error: Error): void } | undefined;
  const promise = new Promise<MasterKey>((resolve, reject) => {
    settle = { resolve, reject };
  });
  return {
    promise,
    give: async () => settle?.resolve(await deriveMasterKey(PASSPHRASE, randomBytes(16), PARAMS)),
    fail: (error) => settle?.reject(error),
  };
}

describe('nexus encryption while the key is still being derived', () => {
  it('takes input before the key (up to its cap, then backpressure) and encrypts it all once the key comes', async () => {
    const key = keyLater();
    const stream = new NexusEncryptStream(key.promise, SMALL_CHUNK * 64);
    const plaintext = randomBytes(MAX_BYTES_BEFORE_KEY + 4 * 1024 * 1024);
    let accepted = 0;
    let acceptedBeforeOutput: number | undefined;
    const output: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => {
      acceptedBeforeOutput ??= accepted;
      output.push(chunk);
    });
    const ended = new Promise((resolve) => stream.on('end', resolve));
    const written = (async () => {
      for (const piece of pieces(plaintext, 256 * 1024)) {
        const more = stream.write(piece, () => {
          accepted += piece.length;
        });
        if (!more) await new Promise((resolve) => stream.once('drain', resolve));
      }
      stream.end();
    })();
    // Let the writer run into the cap while there is no key.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(output).toEqual([]);
    expect(accepted).toBeGreaterThanOrEqual(MAX_BYTES_BEFORE_KEY - 256 * 1024);
    expect(accepted).toBeLessThan(plaintext.length);
    await key.give();
    await written;
    await ended;
    expect(acceptedBeforeOutput).toBeLessThanOrEqual(MAX_BYTES_BEFORE_KEY + 256 * 1024);
    expect(Buffer.concat(output).length).toBeGreaterThan(plaintext.length);
  });

  it('ends a file shorter than one chunk that was written and ended before the key', async () => {
    const key = keyLater();
    const stream = new NexusEncryptStream(key.promise, SMALL_CHUNK);
    const output: Buffer[] = [];
    const flowing = pipeline(
      Readable.from([Buffer.from('short')]),
      stream,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          output.push(chunk);
          callback();
        },
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(output).toEqual([]);
    await key.give();
    await flowing;
    expect(Buffer.concat(output).length).toBeGreaterThan('short'.length);
  });

  it('fails the stream with the key derivation error', async () => {
    const key = keyLater();
    const stream = new NexusEncryptStream(key.promise, SMALL_CHUNK);
    const flowing = pipeline(
      Readable.from(pieces(randomBytes(10 * SMALL_CHUNK), 1000)),
      stream,
      async function* (source) {
        for await (const chunk of source) yield chunk;
      },
    );
    key.fail(new Error('scrypt ran out of memory'));
    await expect(flowing).rejects.toThrow('scrypt ran out of memory');
  });

  it('the transform (default scrypt) decrypts what it encrypted while deriving its key', async () => {
    const transform = await createAes({}, { fast: false });
    const plaintext = randomBytes(3 * 1024 * 1024 + 5);
    const { encoded, params } = await encrypt(transform, plaintext);
    const { output, error } = await decrypt(await createAes({}, { fast: false }), encoded, params);
    expect(error).toBeUndefined();
    expect(output.equals(plaintext)).toBe(true);
  });
});
