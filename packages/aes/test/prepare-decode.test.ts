import * as crypto from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { type Json, resolveOptions, type Transform } from '@nexus-backup/core';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { aes } from '../src/definition.js';
import { OFFSET, SALT_BYTES } from '../src/nexus-format.js';
import { context, decrypt, encrypt, FAST_SCRYPT, PASSPHRASE, SMALL_CHUNK } from './support.js';

// Counts scrypt runs (the slow, memory-hard part) while keeping the real one.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, scrypt: vi.fn(actual.scrypt) };
});
const scryptRuns = vi.mocked(crypto.scrypt);

/** A fresh instance, as `restore` creates one per manifest transform. */
function createTransform(values: Record<string, unknown> = {}): Promise<Transform> {
  const given = { chunkSize: SMALL_CHUNK, iter: 1000, ...FAST_SCRYPT, ...values };
  return aes.create(resolveOptions(aes.options, { path: 'transforms.aes', provider: 'aes', values: given }));
}

async function backup(): Promise<{ plaintext: Buffer; encoded: Buffer; params: { [key: string]: Json } }> {
  const plaintext = randomBytes(5 * SMALL_CHUNK + 17);
  const { encoded, params } = await encrypt(await createTransform(), plaintext);
  return { plaintext, encoded, params };
}

beforeEach(() => {
  scryptRuns.mockClear();
});

describe('aes prepareDecode: the restore starts scrypt from the manifest, before it reads a header', () => {
  it("records the files' salt in params (the same as every header's; not a secret)", async () => {
    const { encoded, params } = await backup();
    expect(params.salt).toBe(encoded.subarray(OFFSET.salt, OFFSET.salt + SALT_BYTES).toString('hex'));
    expect(JSON.stringify(params)).not.toContain(PASSPHRASE);
  });

  it('derives the key once: the decoder then finds it ready for its header', async () => {
    const { plaintext, encoded, params } = await backup();
    const restoring = await createTransform();
    scryptRuns.mockClear();
    await restoring.prepareDecode?.(context(), params);
    expect(scryptRuns).toHaveBeenCalledTimes(1);
    const { output, error } = await decrypt(restoring, encoded, params);
    expect(error).toBeUndefined();
    expect(output.equals(plaintext)).toBe(true);
    expect(scryptRuns).toHaveBeenCalledTimes(1);
  });

  it('keeps the header authoritative: a manifest naming another salt costs one more scrypt, not a wrong key', async () => {
    const { plaintext, encoded, params } = await backup();
    const restoring = await createTransform();
    scryptRuns.mockClear();
    await restoring.prepareDecode?.(context(), { ...params, salt: randomBytes(SALT_BYTES).toString('hex') });
    const { output, error } = await decrypt(restoring, encoded, params);
    expect(error).toBeUndefined();
    expect(output.equals(plaintext)).toBe(true);
    expect(scryptRuns).toHaveBeenCalledTimes(2);
  });

  it('leaves a wrong passphrase to the decoder, which names it', async () => {
    const { encoded, params } = await backup();
    const restoring = await createTransform();
    await expect(restoring.prepareDecode?.(context('not the passphrase'), params)).resolves.toBeUndefined();
    const { output, error } = await decrypt(restoring, encoded, params, { passphrase: 'not the passphrase' });
    expect(output.length).toBe(0);
    expect(error).toMatchObject({ code: 'INTEGRITY', message: expect.stringMatching(/wrong passphrase/) });
  });

  it('does nothing for a manifest without a usable salt or with parameters beyond the limits (older backups, edited manifests)', async () => {
    const { plaintext, encoded, params } = await backup();
    const { salt: _salt, ...older } = params;
    for (const stored of [
      older,
      { ...params, salt: 'not hex' },
      { ...params, salt: 'ab' },
      { ...params, scryptLogN: 30 },
      { ...params, scryptR: '8' },
    ]) {
      const restoring = await createTransform();
      scryptRuns.mockClear();
      await restoring.prepareDecode?.(context(), stored);
      expect(scryptRuns).not.toHaveBeenCalled();
      const { output, error } = await decrypt(restoring, encoded, params);
      expect(error).toBeUndefined();
      expect(output.equals(plaintext)).toBe(true);
    }
  });

  it('does nothing for the openssl format (its key comes from each file)', async () => {
    const openssl = await createTransform({ format: 'openssl' });
    const { params } = await encrypt(openssl, randomBytes(100));
    expect(params.salt).toBeUndefined();
    scryptRuns.mockClear();
    await openssl.prepareDecode?.(context(), params);
    expect(scryptRuns).not.toHaveBeenCalled();
  });
});
