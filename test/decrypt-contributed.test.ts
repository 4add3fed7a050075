import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { aes } from '@nexus-backup/aes';
import { createTestContext } from '@nexus-backup/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';

const passphrase = 'disaster recovery passphrase';
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A file in our own format, made by the aes transform (small scrypt cost to keep the test quick). */
async function nexusFile(dir: string, plain: Buffer): Promise<string> {
  const transform = await aes.create({
    format: 'nexus',
    chunkSize: 4096,
    scryptLogN: 10,
    scryptR: 8,
    scryptP: 1,
    iter: 600_000,
  });
  const encoded = await buffer(
    Readable.from([plain]).pipe(await transform.encode(createTestContext({ passphrase }))),
  );
  const path = join(dir, 'x.aes');
  await writeFile(path, encoded);
  return path;
}

describe("decrypt is the aes package's contributed command", () => {
  it('writes the plaintext owner-only (0600) under --output', async () => {
    const dir = await tempDir('decrypt-mode');
    dirs.push(dir);
    const plain = Buffer.from('secret credentials\n'.repeat(1000));
    const file = await nexusFile(dir, plain);
    const result = await runCli(['decrypt', file, '--output', join(dir, 'plain.txt')], {
      env: { NEXUS_BACKUP_PASSPHRASE: passphrase },
    });
    expect(result.code).toBe(0);
    expect((await readFile(join(dir, 'plain.txt'))).equals(plain)).toBe(true);
    expect((await stat(join(dir, 'plain.txt'))).mode & 0o777).toBe(0o600);
  });

  it('a wrong passphrase on an authenticated file exits 2 and leaves nothing under --output', async () => {
    const dir = await tempDir('decrypt-wrong');
    dirs.push(dir);
    const file = await nexusFile(dir, Buffer.from('x'.repeat(10_000)));
    const result = await runCli(['decrypt', file, '-o', join(dir, 'plain.txt')], {
      env: { NEXUS_BACKUP_PASSPHRASE: 'not the passphrase' },
    });
    expect(result.code).toBe(2);
    expect(await readdir(dir)).toEqual(['x.aes']);
  });

  it('refuses a passphrase on the command line without echoing it', async () => {
    const result = await runCli(['decrypt', 'x.aes', '--passphrase', 'hunter2-secret']);
    expect(result.code).toBe(64);
    expect(result.stderr).not.toContain('hunter2-secret');
  });

  it('`--iter` that is not a positive whole number is a usage error naming the flag', async () => {
    const result = await runCli(['decrypt', 'x.aes', '--openssl', '--pbkdf2', '--iter', '0'], {
      env: { NEXUS_BACKUP_PASSPHRASE: passphrase },
    });
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('--iter');
  });
});
