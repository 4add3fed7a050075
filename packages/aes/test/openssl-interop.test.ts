import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createDecryptStream, type OpensslKdf } from '@nexus-backup/aes';
import { describe, expect, it } from 'vitest';
import { createAes, decrypt, encrypt, PASSPHRASE, runDecoder, withOpenssl } from './support.js';

const execFileAsync = promisify(execFile);

describe('aes openssl compatibility mode (real openssl binary)', () => {
  for (const size of [0, 1, 16, 100_000]) {
    it(`produces ${size} bytes that \`openssl enc -d\` decrypts with the command recorded in params`, async () => {
      const transform = await createAes({ format: 'openssl', iter: 1000 });
      const plaintext = randomBytes(size);
      const { encoded, params } = await encrypt(transform, plaintext);
      expect(params.command).toBe(
        'openssl enc -d -aes-256-cbc -pbkdf2 -iter 1000 -md sha256 -in FILE -out OUT',
      );
      const decrypted = await withOpenssl(async ({ dir, openssl }) => {
        await writeFile(join(dir, 'backup.aes'), encoded);
        const args = String(params.command).split(' ').slice(1);
        await openssl(args.map((arg) => (arg === 'FILE' ? 'backup.aes' : arg === 'OUT' ? 'plain' : arg)));
        return readFile(join(dir, 'plain'));
      });
      expect(decrypted.equals(plaintext)).toBe(true);
    });
  }

  it('uses 600000 PBKDF2 iterations by default, and openssl decrypts that too', async () => {
    const transform = await createAes({ format: 'openssl', iter: undefined });
    const plaintext = randomBytes(5000);
    const { encoded, params } = await encrypt(transform, plaintext);
    expect(params).toMatchObject({ format: 'openssl', iter: 600_000, md: 'sha256', cipher: 'aes-256-cbc' });
    const decrypted = await withOpenssl(async ({ dir, openssl }) => {
      await writeFile(join(dir, 'backup.aes'), encoded);
      const args = ['-pbkdf2', '-iter', '600000', '-md', 'sha256', '-in', 'backup.aes', '-out', 'plain'];
      await openssl(['enc', '-d', '-aes-256-cbc', ...args]);
      return readFile(join(dir, 'plain'));
    });
    expect(decrypted.equals(plaintext)).toBe(true);
    const { output, error } = await decrypt(await createAes({ format: 'openssl' }), encoded, params);
    expect(error).toBeUndefined();
    expect(output.equals(plaintext)).toBe(true);
  });

  const variants: Array<{ name: string; args: string[]; kdf: OpensslKdf | undefined }> = [
    {
      name: '-pbkdf2 -iter 2000',
      args: ['-pbkdf2', '-iter', '2000', '-md', 'sha256'],
      kdf: { pbkdf2: true, iter: 2000, md: 'sha256' },
    },
    {
      name: '-pbkdf2 with its default 10000 iterations',
      args: ['-pbkdf2'],
      kdf: { pbkdf2: true, md: 'sha256' },
    },
    {
      name: 'the legacy derivation with sha256 (OpenSSL >= 1.1 default)',
      args: ['-md', 'sha256'],
      kdf: undefined,
    },
    {
      name: 'the legacy derivation with md5 (OpenSSL < 1.1)',
      args: ['-md', 'md5'],
      kdf: { pbkdf2: false, md: 'md5' },
    },
  ];
  for (const variant of variants) {
    it(`decrypts \`openssl enc -aes-256-cbc -salt ${variant.args.join(' ')}\` output`, async () => {
      const plaintext = randomBytes(70_001);
      const encoded = await withOpenssl(async ({ dir, openssl }) => {
        await writeFile(join(dir, 'plain'), plaintext);
        await openssl(['enc', '-aes-256-cbc', '-salt', ...variant.args, '-in', 'plain', '-out', 'x.enc']);
        return readFile(join(dir, 'x.enc'));
      });
      const options = variant.kdf
        ? { passphrase: PASSPHRASE, openssl: variant.kdf }
        : { passphrase: PASSPHRASE };
      const { output, error } = await runDecoder(createDecryptStream(options), encoded, 4096);
      expect(error).toBeUndefined();
      expect(output.equals(plaintext)).toBe(true);
    });
  }

  it("decrypts what the operators' template `tar -czf - credentials/ | openssl enc -aes-256-cbc -salt` made", async () => {
    await withOpenssl(async ({ dir, openssl }) => {
      await mkdir(join(dir, 'credentials'));
      const secret = randomBytes(3000).toString('base64');
      await writeFile(join(dir, 'credentials', 'service-account.json'), secret);
      const passFile = join(dir, 'template-pass');
      await writeFile(passFile, `${PASSPHRASE}\n`);
      await execFileAsync(
        'sh',
        [
          '-c',
          `tar -czf - credentials/ | openssl enc -aes-256-cbc -salt -pass file:${passFile} -out x.tar.gz.enc`,
        ],
        { cwd: dir },
      );
      const { output, error } = await runDecoder(
        createDecryptStream({ passphrase: PASSPHRASE }),
        await readFile(join(dir, 'x.tar.gz.enc')),
      );
      expect(error).toBeUndefined();
      await mkdir(join(dir, 'restored'));
      await writeFile(join(dir, 'restored.tar.gz'), output);
      await execFileAsync('tar', ['-xzf', '../restored.tar.gz'], { cwd: join(dir, 'restored') });
      expect(await readFile(join(dir, 'restored', 'credentials', 'service-account.json'), 'utf8')).toBe(
        secret,
      );
      void openssl;
    });
  });

  it('reports a wrong passphrase or wrong key derivation as "wrong passphrase or not an openssl file"', async () => {
    // A fixed salt and plaintext make the outcome deterministic (CBC padding happens to be valid 1 time in 256).
    const encoded = await withOpenssl(async ({ dir, openssl }) => {
      await writeFile(join(dir, 'plain'), Buffer.alloc(1000, 'a'));
      await openssl([
        'enc',
        '-aes-256-cbc',
        '-S',
        '0102030405060708',
        '-md',
        'md5',
        '-in',
        'plain',
        '-out',
        'x.enc',
      ]);
      // With an explicit -S, openssl does not write the Salted__ header itself.
      const header = Buffer.concat([Buffer.from('Salted__'), Buffer.from('0102030405060708', 'hex')]);
      return Buffer.concat([header, await readFile(join(dir, 'x.enc'))]);
    });
    const right = await runDecoder(
      createDecryptStream({ passphrase: PASSPHRASE, openssl: { pbkdf2: false, md: 'md5' } }),
      encoded,
    );
    expect(right.output.equals(Buffer.alloc(1000, 'a'))).toBe(true);
    const attempts = [
      { passphrase: 'not the passphrase', openssl: { pbkdf2: false, md: 'md5' } as const },
      { passphrase: PASSPHRASE, openssl: { pbkdf2: false, md: 'sha256' } as const },
    ];
    for (const attempt of attempts) {
      const { error } = await runDecoder(createDecryptStream(attempt), encoded);
      expect(error?.code).toBe('INTEGRITY');
      expect(error?.message).toMatch(
        /wrong passphrase or not an openssl file: the last block has bad padding/,
      );
      expect(`${error?.message} ${(error as { hint?: string }).hint}`).not.toContain(PASSPHRASE);
    }
  });

  it('reports a truncated openssl file and a file that is neither format', async () => {
    const transform = await createAes({ format: 'openssl' });
    const { encoded } = await encrypt(transform, randomBytes(1000));
    const truncated = await runDecoder(
      createDecryptStream({ passphrase: PASSPHRASE }),
      encoded.subarray(0, 100),
    );
    expect(truncated.error?.message).toMatch(
      /truncated or corrupted: its 84 bytes of ciphertext are not a whole number/,
    );
    const foreign = await runDecoder(
      createDecryptStream({ passphrase: PASSPHRASE }),
      Buffer.from('PK\u0003\u0004 zip'),
    );
    expect(foreign.error?.code).toBe('INTEGRITY');
    expect(foreign.error?.message).toMatch(
      /neither the nexus-backup magic \(NEXUSAES\) nor openssl's "Salted__"/,
    );
  });

  it('decodes its own openssl output through the transform with only the stored params', async () => {
    const plaintext = randomBytes(12345);
    const { encoded, params } = await encrypt(await createAes({ format: 'openssl', iter: 1500 }), plaintext);
    const { output, error } = await decrypt(await createAes({ format: 'nexus' }), encoded, params);
    expect(error).toBeUndefined();
    expect(output.equals(plaintext)).toBe(true);
  });
});
