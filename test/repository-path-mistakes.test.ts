import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';

/**
 * A repository written from an unset variable (`--to "$BACKUP_DIR"`, `--to "file://$BACKUP_DIR"`)
 * must be refused, not become the current folder or the filesystem root.
 */

let work: string;
// A pipeline name no one else uses: had a backup reached the filesystem root, afterAll removes it.
const pipeline = `nexus-e2e-root-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  work = await tempDir('repo-path-mistakes');
  await mkdir(join(work, 'src'));
  await writeFile(join(work, 'src', 'a.txt'), 'hello\n');
});

afterAll(async () => {
  await rm(join('/', pipeline), { recursive: true, force: true });
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a repository path that is empty or the filesystem root', () => {
  it.each([[''], ['   ']])(
    'backup --to "%s" is a usage error (64) and writes nothing in the current folder',
    async (to) => {
      const result = await runCli(['backup', 'files', 'src', '--to', to, '--pipeline', pipeline], {
        cwd: work,
      });
      expect(result.code).toBe(64);
      expect(result.stderr.trim()).toBe(
        'error: the repository is an empty string; pass a path, URL or configured name (is a variable in it unset?)',
      );
      expect((await readdir(work)).sort()).toEqual(['src']);
    },
  );

  it.each([['file://'], ['file:///'], ['/'], ['/tmp/..']])(
    'backup --to %s is refused as the filesystem root (64), and list --from it too',
    async (to) => {
      const backup = await runCli(['backup', 'files', 'src', '--to', to, '--pipeline', pipeline], {
        cwd: work,
      });
      expect(backup.code).toBe(64);
      expect(backup.stderr.trim()).toBe(
        'error: [local] the repository path "/" is the filesystem root; name a folder such as /var/backups/nexus (is a variable in the path unset?)',
      );
      expect((await readdir('/')).includes(pipeline)).toBe(false);
      const list = await runCli(['list', '--from', to]);
      expect(list.code).toBe(64);
    },
  );

  it('list of a repository (or pipeline) holding no backups says where it looked, exit 0', async () => {
    const empty = join(work, 'empty-repository');
    await mkdir(empty);
    const all = await runCli(['list', '--from', empty]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stderr.trim()).toBe(`no backups in ${empty}`);
    const one = await runCli(['list', 'typo', '--from', empty, '--json']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr.trim()).toBe(`no backups of typo in ${empty}`);
    expect(JSON.parse(one.stdout).backups).toEqual([]);
  });
});
