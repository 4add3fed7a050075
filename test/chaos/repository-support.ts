import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { CLI_BIN, runCli } from '../helpers/cli.js';

/** `pnpm test` runs the small size; `pnpm test:chaos` (NEXUS_CHAOS=full) the large one. */
export const FULL = process.env.NEXUS_CHAOS === 'full';

export interface ChaosRepo {
  work: string;
  repo: string;
  /** Rewrites the folder a backup reads; its `generation.txt` names `generation`. */
  setGeneration(generation: number): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * A work folder with `data/` (a random blob big enough that a backup takes a moment, plus a
 * generation stamp) and `static/` (a blob nobody changes, for a second pipeline running alongside).
 */
export async function chaosRepo(blobBytes: number): Promise<ChaosRepo> {
  const work = await mkdtemp(join(tmpdir(), 'nexus-chaos-repo-'));
  await mkdir(join(work, 'data'));
  await writeFile(join(work, 'data', 'blob.bin'), randomBytes(blobBytes));
  await mkdir(join(work, 'static'));
  await writeFile(join(work, 'static', 'blob.bin'), randomBytes(blobBytes));
  return {
    work,
    repo: join(work, 'repo'),
    setGeneration: (generation) =>
      writeFile(join(work, 'data', 'generation.txt'), `generation ${generation}\n`),
    dispose: () => rm(work, { recursive: true, force: true }),
  };
}

export function backupArgs(chaos: ChaosRepo, pipeline: string, folder: 'data' | 'static' = 'data'): string[] {
  return ['backup', 'files', folder, '--to', chaos.repo, '--pipeline', pipeline];
}

/** Starts the real CLI and kills it with SIGKILL after `delayMs` (or lets it finish first). */
export async function killAfter(args: string[], cwd: string, delayMs: number): Promise<number | null> {
  const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd, stdio: 'ignore' });
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
  const code = await closed;
  clearTimeout(timer);
  return code;
}

export interface Listed {
  backups: { pipeline: string; id: string }[];
  damaged: unknown[];
  unreadable: unknown[];
  incomplete: { pipeline: string; id: string }[];
}

/**
 * The promise under test: every backup `list` shows verifies and nothing listed is damaged or
 * unreadable. Returns the listing.
 */
export async function expectEveryListedBackupVerifies(chaos: ChaosRepo, context: string): Promise<Listed> {
  const list = await runCli(['list', '--from', chaos.repo, '--json']);
  const listed = JSON.parse(
    list.stdout || '{"backups":[],"damaged":[],"unreadable":[],"incomplete":[]}',
  ) as Listed;
  expect(listed.damaged, `${context}: damaged backups listed`).toEqual([]);
  expect(listed.unreadable, `${context}: unreadable manifests`).toEqual([]);
  if (listed.backups.length > 0) {
    const verify = await runCli(['verify', '--from', chaos.repo]);
    expect(verify.code, `${context}: verify of every listed backup\n${verify.stderr}`).toBe(0);
  }
  return listed;
}

/** Restores one backup into a fresh folder and returns its generation stamp (undefined for `static/`). */
export async function restoredGeneration(chaos: ChaosRepo, selector: string): Promise<string | undefined> {
  const out = join(chaos.work, `out-${randomBytes(4).toString('hex')}`);
  const restore = await runCli(['restore', selector, '--from', chaos.repo, '--to-dir', out]);
  expect(restore.code, `restore ${selector}\n${restore.stderr}`).toBe(0);
  const stamp = await readFile(join(out, 'data', 'generation.txt'), 'utf8').catch(() => '');
  await rm(out, { recursive: true, force: true });
  return /generation (\d+)/.exec(stamp)?.[1];
}

/** The backup id a successful `backup` run printed (`backup PIPELINE@ID ...`). */
export function backupIdOf(stderr: string, pipeline: string): string | undefined {
  return new RegExp(`backup ${pipeline}@(\\d{8}T\\d{6}Z-[0-9a-f]{6})`).exec(stderr)?.[1];
}
