import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const CLI_BIN = join(REPO_ROOT, 'apps/cli/bin/nexus-backup.js');
export const SAMPLE_SERVICE = join(REPO_ROOT, 'examples/sample-service');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `nexus-backup` binary as a child process, as an operator's shell or cron would. */
export function runCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; nodeFlags?: string[] } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...(options.nodeFlags ?? []), CLI_BIN, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, NEXUS_BACKUP_PASSPHRASE: '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `nexus-e2e-${prefix}-`));
}

/** A private copy of the sample service folder, so tests can change it. */
export async function copySampleService(): Promise<string> {
  const dir = join(await tempDir('service'), 'service');
  await cp(SAMPLE_SERVICE, dir, { recursive: true, preserveTimestamps: true });
  return dir;
}

/**
 * `count` backups of `work/src` (one small file) into `repo`, a second apart so their ids (which carry
 * the second) sort in the order they were made; returns the ids, oldest first.
 */
export async function filesBackupsInOrder(work: string, repo: string, count = 2): Promise<string[]> {
  await mkdir(join(work, 'src'), { recursive: true });
  await writeFile(join(work, 'src', 'a.txt'), 'hello\n');
  const ids: string[] = [];
  for (let index = 0; index < count; index += 1) {
    if (index > 0) await sleep(1100);
    const made = await runCli(['backup', 'files', 'src', '--to', repo], { cwd: work });
    if (made.code !== 0) throw new Error(`backup ${index + 1} of ${count} failed: ${made.stderr}`);
    ids.push(/backup files@(\S+):/.exec(made.stderr)?.[1] ?? '');
  }
  return ids;
}
