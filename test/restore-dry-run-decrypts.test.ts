import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';

/**
 * `restore --dry-run` is how an operator asks "will this restore work?": it must fail on the
 * passphrase the real restore would fail on, and write nothing either way.
 */

let work: string;
const repo = () => join(work, 'repo');
const PASSPHRASE = 'dry-run-passphrase';

beforeAll(async () => {
  work = await tempDir('dry-run-decrypts');
  await mkdir(join(work, 'src'));
  await writeFile(join(work, 'src', 'a.txt'), 'hello\n');
  const made = await runCli(['backup', 'files', 'src', '--encrypt', '--to', repo()], {
    cwd: work,
    env: { NEXUS_BACKUP_PASSPHRASE: PASSPHRASE },
  });
  expect(made.code, made.stderr).toBe(0);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('restore --dry-run of an encrypted backup', () => {
  const dryRun = (env: NodeJS.ProcessEnv) =>
    runCli(['restore', 'files@latest', '--from', repo(), '--to-dir', join(work, 'out'), '--dry-run'], {
      env,
    });

  it('with the wrong passphrase: FAILED naming it, exit 2, nothing written', async () => {
    const result = await dryRun({ NEXUS_BACKUP_PASSPHRASE: 'not-the-passphrase' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^FAILED files\.tar\.gz\.aes: .*wrong passphrase/m);
    expect(await readdir(work)).not.toContain('out');
  });

  it('with no passphrase: one usage error saying how to give one, exit 64', async () => {
    const result = await dryRun({});
    expect(result.code).toBe(64);
    expect(result.stderr.trim()).toMatch(
      /^error: a passphrase is needed to decrypt; set \$NEXUS_BACKUP_PASSPHRASE/,
    );
  });

  it('with the right passphrase: ok, exit 0, nothing written', async () => {
    const result = await dryRun({ NEXUS_BACKUP_PASSPHRASE: PASSPHRASE });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^ok {5}files\.tar\.gz\.aes$/m);
    expect(await readdir(work)).not.toContain('out');
  });
});
