import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI_BIN, REPO_ROOT } from '../helpers/cli.js';

/** `pnpm test` runs a size that fits CI; `NEXUS_CHAOS=full pnpm test:chaos` the sizes of issue 12. */
export const FULL = process.env.NEXUS_CHAOS === 'full';

/**
 * Runs the real binary and SIGKILLs it after `afterMs` (unless it exited first); resolves with its
 * exit code, or null when it was killed.
 */
export function runKilledAfter(
  args: string[],
  afterMs: number,
  env: NodeJS.ProcessEnv = {},
): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NEXUS_BACKUP_PASSPHRASE: '', ...env },
      stdio: 'ignore',
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** A random moment within a run that takes `typicalMs`, a little past its end too. */
export function randomMoment(typicalMs: number): number {
  return Math.floor(Math.random() * typicalMs * 1.1);
}

/** One hash over every path, kind and content under `root` (undefined when it does not exist). */
export async function treeDigest(root: string): Promise<string | undefined> {
  if (!(await lstat(root).catch(() => undefined))) return undefined;
  const hash = createHash('sha256');
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const paths = entries
    .map((entry) => ({ entry, path: join(entry.parentPath, entry.name).slice(root.length + 1) }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const { entry, path } of paths) {
    if (entry.isDirectory()) hash.update(`d ${path}\n`);
    else
      hash.update(
        `f ${path} ${createHash('sha256')
          .update(await readFile(join(root, path)))
          .digest('hex')}\n`,
      );
  }
  return hash.digest('hex');
}
