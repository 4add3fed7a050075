import { execFileSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';

const passphrase = 'disaster recovery passphrase';

describe('decrypt: the escape hatch for files made without a repository', () => {
  it("reads a file from the operators' `openssl enc -aes-256-cbc -salt` template, atomically into --output", async () => {
    const dir = await tempDir('decrypt');
    const plain = Buffer.from('{"apiKey":"demo"}\n'.repeat(500));
    await writeFile(join(dir, 'plain.json'), plain);
    execFileSync(
      'openssl',
      ['enc', '-aes-256-cbc', '-salt', '-pass', 'env:PASS', '-in', 'plain.json', '-out', 'x.enc'],
      {
        cwd: dir,
        env: { ...process.env, PASS: passphrase },
        stdio: 'ignore',
      },
    );
    const env = { NEXUS_BACKUP_PASSPHRASE: passphrase };
    const ok = await runCli(['decrypt', join(dir, 'x.enc'), '--openssl', '-o', join(dir, 'out.json')], {
      env,
    });
    expect(ok.code).toBe(0);
    expect((await readFile(join(dir, 'out.json'))).equals(plain)).toBe(true);

    // A cut-off file (not a whole number of cipher blocks) is always caught, unlike a wrong passphrase,
    // which CBC padding misses about 1 time in 256; either way nothing may be left under --output.
    const encrypted = await readFile(join(dir, 'x.enc'));
    await writeFile(join(dir, 'cut.enc'), encrypted.subarray(0, encrypted.length - 7));
    const cut = await runCli(['decrypt', join(dir, 'cut.enc'), '--openssl', '-o', join(dir, 'cut.json')], {
      env,
    });
    expect(cut.code).toBe(2);
    expect((await readdir(dir)).sort()).toEqual(['cut.enc', 'out.json', 'plain.json', 'x.enc']);
  });

  it('pbkdf2 flags without --openssl and a missing file are clear errors', async () => {
    const env = { NEXUS_BACKUP_PASSPHRASE: passphrase };
    const flags = await runCli(['decrypt', 'x.enc', '--pbkdf2'], { env });
    expect(flags.code).toBe(64);
    expect(flags.stderr).toContain('add --openssl');
    const missing = await runCli(['decrypt', '/nonexistent/x.enc'], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('/nonexistent/x.enc');
  });
});
