import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { aes } from '@nexus-backup/aes';
import { type Json, resolveOptions, type Transform } from '@nexus-backup/core';
import { createTestContext } from '@nexus-backup/testkit';

export const PASSPHRASE = 'correct horse battery staple';
/** Cheap scrypt (N=2^10) so tests spend their time on the format, not the KDF. */
export const FAST_SCRYPT = { scryptLogN: 10, scryptR: 8, scryptP: 1 } as const;
export const SMALL_CHUNK = 1024;

/** Creates the transform the way the CLI does: options resolved (defaults filled) from the declaration. */
export async function createAes(
  values: Record<string, unknown> = {},
  { fast = true } = {},
): Promise<Transform> {
  const given = fast ? { chunkSize: SMALL_CHUNK, iter: 1000, ...FAST_SCRYPT, ...values } : values;
  return aes.create(resolveOptions(aes.options, { path: 'transforms.aes', provider: 'aes', values: given }));
}

export function context(passphrase = PASSPHRASE) {
  return createTestContext({ passphrase });
}

export function* pieces(data: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

export async function encrypt(
  transform: Transform,
  plaintext: Buffer,
  passphrase = PASSPHRASE,
): Promise<{ encoded: Buffer; params: { [key: string]: Json } }> {
  const chunks: Buffer[] = [];
  await pipeline(
    Readable.from(pieces(plaintext, 7000)),
    await transform.encode(context(passphrase)),
    collectInto(chunks),
  );
  return { encoded: Buffer.concat(chunks), params: JSON.parse(JSON.stringify(transform.params())) };
}

/** What a decoder let out, and how it ended: the output is recorded even when the stream fails. */
export interface DecodeOutcome {
  output: Buffer;
  error: (Error & { code?: string }) | undefined;
}

export async function runDecoder(
  decoder: Duplex,
  encoded: Buffer,
  pieceSize = 64 * 1024,
): Promise<DecodeOutcome> {
  const chunks: Buffer[] = [];
  let error: DecodeOutcome['error'];
  try {
    await pipeline(Readable.from(pieces(encoded, pieceSize)), decoder, collectInto(chunks));
  } catch (caught) {
    error = caught as DecodeOutcome['error'];
  }
  return { output: Buffer.concat(chunks), error };
}

export async function decrypt(
  transform: Transform,
  encoded: Buffer,
  params: { [key: string]: Json },
  options: { passphrase?: string; pieceSize?: number } = {},
): Promise<DecodeOutcome> {
  const decoder = await transform.decode(context(options.passphrase), params);
  return runDecoder(decoder, encoded, options.pieceSize);
}

export function collectInto(chunks: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
}

const execFileAsync = promisify(execFile);

/** Runs the real openssl binary on files in a temp dir; the passphrase goes through a file, never argv. */
export async function withOpenssl<T>(
  run: (tools: { dir: string; openssl(args: string[], passphrase?: string): Promise<void> }) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'nexus-aes-'));
  try {
    return await run({
      dir,
      async openssl(args, passphrase = PASSPHRASE) {
        const passFile = join(dir, `pass-${randomBytes(4).toString('hex')}`);
        await writeFile(passFile, `${passphrase}\n`, { mode: 0o600 });
        await execFileAsync('openssl', [...args, '-pass', `file:${passFile}`], { cwd: dir });
      },
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
