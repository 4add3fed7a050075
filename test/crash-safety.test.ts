import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI_BIN, runCli, tempDir } from './helpers/cli.js';

const SLOW_SOURCE = join(import.meta.dirname, 'fixtures/slow-source.mjs');

/** Every file under a directory, relative, including temp files a crashed writer left. */
async function allFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(root.length + 1));
}

/** Starts a slow backup and kills it with SIGKILL once `ready` sees the files it waits for. */
async function killBackupWhen(repo: string, ready: (files: string[]) => boolean): Promise<string[]> {
  const child = spawn(
    process.execPath,
    [CLI_BIN, '--plugin', SLOW_SOURCE, 'backup', 'slow', '--to', repo, '--pipeline', 'crash', '--no-gzip'],
    {
      env: { ...process.env, SLOW_SOURCE_CHUNKS: '400', SLOW_SOURCE_DELAY_MS: '20' },
      stdio: 'ignore',
    },
  );
  const exited = new Promise((resolve) => child.on('exit', resolve));
  for (;;) {
    const files = await allFiles(repo).catch(() => []);
    if (ready(files)) {
      child.kill('SIGKILL');
      await exited;
      return allFiles(repo);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('a backup killed with SIGKILL never counts as a backup', () => {
  const points: [string, (files: string[]) => boolean][] = [
    ['while the first artifact streams', (files) => files.some((file) => file.includes('first.bin'))],
    [
      'after the first artifact was stored, while the second streams',
      (files) => files.some((file) => file.includes('second.bin')),
    ],
  ];
  for (const [when, ready] of points) {
    it(`killed ${when}: list, restore and verify see nothing; prune removes the leftover and the lease at once (its pid is gone)`, async () => {
      const repo = await tempDir('crash');
      const left = await killBackupWhen(repo, ready);
      expect(left.length).toBeGreaterThan(0);
      expect(left.some((file) => file.endsWith('manifest.json'))).toBe(false);

      const list = JSON.parse((await runCli(['list', '--from', repo, '--json'])).stdout);
      expect(list.backups).toEqual([]);
      expect(list.incomplete).toHaveLength(1);

      const restore = await runCli(['--plugin', SLOW_SOURCE, 'restore', 'crash@latest', '--from', repo]);
      expect(restore.code).toBe(2);
      expect(restore.stderr).toContain('no complete backup');
      expect((await runCli(['verify', 'crash', '--from', repo])).code).toBe(2);

      // The dead writer's lease stays behind and tells prune at once that nobody writes this folder.
      expect(left.filter((file) => file.includes('/.leases/'))).toHaveLength(1);
      const prune = await runCli(['prune', '--from', repo, '--keep-last', '1', '--json']);
      expect(prune.code).toBe(0);
      expect(JSON.parse(prune.stdout).leftovers[0]).toMatchObject({ action: 'remove' });
      expect(JSON.parse(prune.stdout).leftovers[0].reason).toMatch(/pid \d+ on this host is gone/);
      expect(await allFiles(repo)).toEqual([]);
    });
  }
});
