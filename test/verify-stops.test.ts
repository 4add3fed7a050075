import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, type CliResult, REPO_ROOT, runCli, tempDir } from './helpers/cli.js';

/**
 * Ctrl-C or a mistake of the invocation says nothing about the backups: verify must stop with that one
 * error, never list every backup it did not get to as FAILED (which reads as a damaged repository).
 */

let work: string;
const plain = () => join(work, 'plain');
const encrypted = () => join(work, 'encrypted');
const BACKUPS = 6;

beforeAll(async () => {
  work = await tempDir('verify-stops');
  await mkdir(join(work, 'src'));
  // Incompressible and stored without gzip: each verify of a backup reads 24 MiB.
  await writeFile(join(work, 'src', 'data.bin'), randomBytes(24 * 1024 * 1024));
  for (let index = 0; index < BACKUPS; index += 1) {
    const made = await runCli(['backup', 'files', 'src', '--no-gzip', '--to', plain()], { cwd: work });
    expect(made.code, made.stderr).toBe(0);
  }
  const secret = await runCli(['backup', 'files', 'src', '--encrypt', '--to', encrypted()], {
    cwd: work,
    env: { NEXUS_BACKUP_PASSPHRASE: 'verify-stops-passphrase' },
  });
  expect(secret.code, secret.stderr).toBe(0);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Runs the CLI and sends `signal` once the progress line says the first artifact was read through. */
function runAndSignalAfterFirstOk(args: string[], signal: NodeJS.Signals): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NEXUS_BACKUP_PASSPHRASE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!sent && /^files\.tar: .* in /m.test(stderr)) {
        sent = true;
        child.kill(signal);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

describe('verify stops on what is not about the backups', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'interrupted by %s after the first backup: exit 2, "interrupted", and no backup reported FAILED',
    async (signal) => {
      const result = await runAndSignalAfterFirstOk(['verify', '--from', plain()], signal);
      expect(result.stderr).toMatch(/^files\.tar: .* in /m);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('error: interrupted by a signal');
      expect(`${result.stdout}${result.stderr}`).not.toMatch(/FAILED|checked, \d+ failed/);
    },
  );

  it('verify --read with a missing --passphrase-file is one usage error (64), not every backup FAILED', async () => {
    const missing = join(work, 'no-such-passphrase');
    const result = await runCli(['verify', '--from', encrypted(), '--read', '--passphrase-file', missing]);
    expect(result.code).toBe(64);
    expect(result.stderr.trim()).toBe(
      `error: cannot read --passphrase-file ${missing}: ENOENT: no such file or directory, open '${missing}'`,
    );
    expect(result.stdout).not.toMatch(/FAILED/);
  });

  it('verify --read with no passphrase at all says how to give one, exit 64', async () => {
    const result = await runCli(['verify', '--from', encrypted(), '--read']);
    expect(result.code).toBe(64);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^error: a passphrase is needed to decrypt; set \$NEXUS_BACKUP_PASSPHRASE/);
  });
});
