import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from './helpers/cli.js';

const run = promisify(execFile);

let outside: string;
let plugin: string;

/**
 * The example in-house destination installed as a user installs it, outside this workspace: its own
 * folder with its own node_modules holding @nexus-backup/core as `pnpm pack` publishes it.
 */
beforeAll(async () => {
  outside = await mkdtemp(join(tmpdir(), 'nexus-e2e-plugin-'));
  const folder = join(outside, 'azure-folder');
  // Its files only: the workspace's node_modules link to this checkout's core, which is the point not to use.
  await cp(join(REPO_ROOT, 'examples/inhouse-destination'), folder, {
    recursive: true,
    filter: (source) => !source.includes('node_modules'),
  });
  await run('pnpm', ['pack', '--pack-destination', outside], { cwd: join(REPO_ROOT, 'packages/core') });
  const [tarball] = (await readdir(outside)).filter((name) => name.endsWith('.tgz'));
  const core = join(folder, 'node_modules/@nexus-backup/core');
  await mkdir(core, { recursive: true });
  await run('tar', ['-xzf', join(outside, tarball as string), '-C', core, '--strip-components=1']);
  // The packed core's own dependency, as npm would install it next to it.
  const yaml = dirname(
    await realpath(createRequire(join(REPO_ROOT, 'packages/core/package.json')).resolve('yaml/package.json')),
  );
  await cp(yaml, join(folder, 'node_modules/yaml'), { recursive: true });
  plugin = join(folder, 'index.js');
});

afterAll(async () => {
  if (outside) await rm(outside, { recursive: true, force: true });
});

describe('an in-house destination loaded with --plugin from outside the workspace', () => {
  it('is reached by the URL scheme it declares: backup, list and restore through azure://', async () => {
    const work = join(outside, 'work');
    await mkdir(work);
    await writeFile(join(work, 'notes.txt'), 'kept in an in-house store\n');
    const repo = `azure://acct/backups?root=${join(outside, 'blobs')}`;
    const backup = await runCli(
      ['--plugin', plugin, 'backup', 'files', 'notes.txt', '--to', repo, '--pipeline', 'notes'],
      { cwd: work },
    );
    expect(backup.stderr).not.toContain('unsupported repository scheme');
    expect(backup.code).toBe(0);
    // The blobs are where the in-house destination put them, not in any built-in store.
    // `.leases/` holds the (released) lease of the run; the backup is the one other folder.
    const [id] = (await readdir(join(outside, 'blobs/acct/backups/notes'))).filter(
      (name) => !name.startsWith('.'),
    );
    expect(await readdir(join(outside, 'blobs/acct/backups/notes', id as string))).toContain('manifest.json');

    const list = await runCli(['--plugin', plugin, 'list', '--from', repo, '--json']);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(id as string);
    const out = join(outside, 'restored');
    const restore = await runCli([
      '--plugin',
      plugin,
      'restore',
      'notes@latest',
      '--from',
      repo,
      '--to-dir',
      out,
    ]);
    expect(restore.code).toBe(0);
    expect(await readFile(join(out, 'notes.txt'), 'utf8')).toBe('kept in an in-house store\n');
  });

  it("its usage error (a URL without a container) exits 64 with the provider's tag", async () => {
    const result = await runCli(['--plugin', plugin, 'list', '--from', 'azure://acct']);
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('[azure] azure://acct names no container and root');
    expect(result.stderr).toContain('use azure://ACCOUNT/CONTAINER?root=/path/to/folder');
  });

  it('without the plugin the scheme is unknown: a usage error listing the schemes there are', async () => {
    const result = await runCli(['list', '--from', 'azure://acct/backups']);
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('unsupported repository scheme "azure:"');
    expect(result.stderr).toContain('s3://');
  });
});
