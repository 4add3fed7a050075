import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, type CliResult, REPO_ROOT, runCli, tempDir } from './helpers/cli.js';

/**
 * Ctrl-C, SIGTERM or a mistake of the invocation says nothing about the backups: a command stops with
 * one error naming the signal, removes what it was writing, and never reports backups it did not get
 * to as FAILED (which reads as a damaged repository).
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

/** Runs the CLI and sends `signal` once `ready` (polled) is true or stderr says the first artifact was read. */
function runAndSignal(
  args: string[],
  signal: NodeJS.Signals,
  ready: () => Promise<boolean> = async () => false,
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NEXUS_BACKUP_PASSPHRASE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let sent = false;
    const send = () => {
      if (sent) return;
      sent = true;
      child.kill(signal);
    };
    const poll = setInterval(() => {
      ready().then((yes) => yes && send(), reject);
    }, 10);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/^files\.tar: .* in /m.test(stderr)) send();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

describe('verify stops on what is not about the backups', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'interrupted by %s after the first backup: exit 2, "interrupted", and no backup reported FAILED',
    async (signal) => {
      const result = await runAndSignal(['verify', '--from', plain()], signal);
      expect(result.stderr).toMatch(/^files\.tar: .* in /m);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        `error: interrupted by ${signal}; the run stopped and removed its partial output`,
      );
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

/** Every file under `root` (folders left out), relative; [] when `root` does not exist. */
async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => !entry.isDirectory()).map((entry) => join(entry.parentPath, entry.name));
}

describe('writing commands interrupted', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'backup interrupted by %s while an artifact is written: one error naming the signal, exit 2, no file and no lease left',
    async (signal) => {
      const target = join(work, `interrupted-backup-${signal}`);
      const writing = async () => (await filesUnder(target)).some((file) => file.includes('.tmp-'));
      // gzip -9 of incompressible data is slow enough to be caught mid-write.
      const result = await runAndSignal(
        ['backup', 'files', 'src', '--gzip=9', '--base-dir', work, '--to', target],
        signal,
        writing,
      );
      expect(result.code).toBe(2);
      expect(result.stderr.match(/^error: .*/gm)).toEqual([
        `error: interrupted by ${signal}; the run stopped and removed its partial output`,
      ]);
      expect(await filesUnder(target)).toEqual([]);
      const listed = await runCli(['list', '--from', target, '--json']);
      expect(JSON.parse(listed.stdout).backups).toEqual([]);
    },
  );

  it('mirror interrupted after its first backup: one error naming the signal, exit 2; the copies it finished verify, no lease or temp file left', async () => {
    const target = join(work, 'interrupted-mirror');
    const copying = async () => (await filesUnder(target)).some((file) => file.endsWith('manifest.json'));
    const result = await runAndSignal(['mirror', plain(), target], 'SIGINT', copying);
    expect(result.code).toBe(2);
    expect(result.stderr.match(/^error: .*/gm)).toEqual([
      'error: interrupted by SIGINT; the run stopped and removed its partial output',
    ]);
    const left = await filesUnder(target);
    expect(left.filter((file) => file.includes('.tmp-') || file.includes('.leases'))).toEqual([]);
    const copies = left.filter((file) => file.endsWith('manifest.json')).length;
    expect(copies).toBeGreaterThan(0);
    expect(copies).toBeLessThan(BACKUPS);
    const verified = await runCli(['verify', '--from', target]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stderr).toContain(`${copies} backup(s) checked, 0 failed`);
  });
});
