import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesBackupsInOrder, runCli, tempDir } from './helpers/cli.js';

/** A repository an operator or another tool also wrote into, and one a newer nexus-backup wrote. */

let work: string;
const repo = () => join(work, 'repo');
const ids: string[] = [];

beforeAll(async () => {
  work = await tempDir('repo-foreign');
  ids.push(...(await filesBackupsInOrder(work, repo())));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a repository holding what nexus-backup did not write', () => {
  it('foreign files and folders are not listed, and prune removes only backups', async () => {
    await mkdir(join(repo(), 'foreign', 'x'), { recursive: true });
    await writeFile(join(repo(), 'README.txt'), 'notes\n');
    await writeFile(join(repo(), 'files', 'stray.txt'), 'stray\n');
    await mkdir(join(repo(), 'files', 'not-a-backup'));
    await writeFile(join(repo(), 'files', 'not-a-backup', 'a'), 'a\n');
    const listed = await runCli(['list', '--from', repo(), '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).backups.map((backup: { id: string }) => backup.id)).toEqual(ids);
    const pruned = await runCli(['prune', '--from', repo(), '--keep-last', '1', '--grace', '1s']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect((await readdir(repo())).sort()).toEqual(['README.txt', 'files', 'foreign']);
    expect((await readdir(join(repo(), 'files'))).sort()).toEqual([ids[1], 'not-a-backup', 'stray.txt']);
    expect(await readFile(join(repo(), 'files', 'not-a-backup', 'a'), 'utf8')).toBe('a\n');
  });

  it('a manifest of a newer format version says to upgrade nexus-backup, and restore by its id exits 2', async () => {
    const id = ids[1] as string;
    const manifest = join(repo(), 'files', id, 'manifest.json');
    await writeFile(manifest, (await readFile(manifest, 'utf8')).replace('"version": 1,', '"version": 2,'));
    const listed = await runCli(['list', '--from', repo()]);
    expect(listed.code).toBe(1);
    expect(listed.stderr).toContain(
      `manifest ${manifest} has version 2, written by a newer nexus-backup (this one reads version 1): upgrade nexus-backup to read it`,
    );
    const restored = await runCli([
      'restore',
      `files@${id}`,
      '--from',
      repo(),
      '--to-dir',
      join(work, 'out'),
    ]);
    expect(restored.code).toBe(2);
    expect(restored.stderr.trim().split('\n')).toHaveLength(1);
    expect(restored.stderr).toMatch(/^error: .*upgrade nexus-backup to read it$/m);
  });
});
