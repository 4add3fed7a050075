import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, runCli, tempDir } from './helpers/cli.js';

const run = promisify(execFile);

let work: string;
beforeAll(async () => {
  work = await tempDir('restore-targets');
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** A files backup of `count` files of `size` random bytes (incompressible), gzip only; returns the repository. */
async function filesBackup(name: string, count: number, size: number): Promise<string> {
  const base = join(work, `${name}-src`);
  await mkdir(join(base, 'service'), { recursive: true });
  for (let index = 0; index < count; index += 1)
    await writeFile(join(base, 'service', `f${index}.bin`), randomBytes(size));
  const repo = join(work, `${name}-repo`);
  const backup = await runCli([
    'backup',
    'files',
    'service',
    '--base-dir',
    base,
    '--to',
    repo,
    '--pipeline',
    name,
  ]);
  expect(backup.code).toBe(0);
  return repo;
}

async function onlyArtifact(repo: string, pipeline: string): Promise<string> {
  const [id] = await readdir(join(repo, pipeline));
  return join(repo, pipeline, id as string, 'files.tar.gz');
}

/** Overwrites `length` bytes at `offset` with 0xff, as a failing disk or a careless edit would. */
async function overwrite(path: string, offset: number, length: number): Promise<void> {
  const handle = await open(path, 'r+');
  await handle.write(Buffer.alloc(length, 0xff), 0, length, offset);
  await handle.close();
}

/** The pid of a process that has exited, as a killed restore's would be. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('restore targets through the nexus-backup binary', () => {
  it('a full disk reads "no space left on <path>", exit 2, and leaves nothing on it (2 MiB tmpfs)', async () => {
    const repo = await filesBackup('full', 3, 1024 * 1024);
    const mountPoint = join(work, 'small-disk');
    await mkdir(mountPoint);
    // A private mount namespace: the tmpfs exists only for this shell and vanishes with it, also as non-root.
    const script = `mount -t tmpfs -o size=2m tmpfs "$1" || exit 99
"$2" "$3" restore full@latest --from "$4" --to-dir "$1/out"
echo "exit=$?"; ls -A "$1"`;
    const result = await run(
      'unshare',
      [
        '--user',
        '--map-root-user',
        '--mount',
        'sh',
        '-c',
        script,
        'sh',
        mountPoint,
        process.execPath,
        CLI_BIN,
        repo,
      ],
      { env: { ...process.env, NEXUS_BACKUP_PASSPHRASE: '' } },
    ).catch((error: { stdout: string; stderr: string }) => error);
    expect(result.stdout.trim()).toBe('exit=2');
    expect(result.stderr).toContain(`no space left on ${mountPoint} while restoring into ${mountPoint}/out`);
    expect(result.stderr).not.toMatch(/damaged|unsafe/);
  });

  it('a damaged gzip-only files backup fails with one integrity error, never raw zlib text or ENOTEMPTY, and leaves no staging folder', async () => {
    const repo = await filesBackup('damaged', 400, 8192);
    const artifact = await onlyArtifact(repo, 'damaged');
    const { size } = await stat(artifact);
    await overwrite(artifact, Math.floor(size / 10), 256);
    const parent = join(work, 'damaged-out');
    await mkdir(parent);

    const restore = await runCli([
      'restore',
      'damaged@latest',
      '--from',
      repo,
      '--to-dir',
      join(parent, 'target'),
    ]);
    expect(restore.code).toBe(2);
    expect(restore.stderr).toMatch(
      /artifact files\.tar\.gz: gzip data is damaged \(|stored files\.tar\.gz does not match|backup archive is damaged/,
    );
    expect(restore.stderr).not.toMatch(/ENOTEMPTY|invalid (distance|block|code)[^)]*$/im);
    expect(await readdir(parent)).toEqual([]);
  });

  it('gzip data that cannot be inflated reads "artifact X: gzip data is damaged (...)", exit 2', async () => {
    // 3.2 MB: many of the 256 KiB chunks stages pass, so the damage reaches gunzip while the stored bytes
    // still stream (a smaller artifact fails first on its stored SHA-256, also with exit 2).
    const repo = await filesBackup('inflate', 400, 8192);
    // Right after the 10-byte gzip header: the first deflate block header becomes an invalid block type.
    await overwrite(await onlyArtifact(repo, 'inflate'), 10, 16);
    const restore = await runCli([
      'restore',
      'inflate@latest',
      '--from',
      repo,
      '--to-dir',
      join(work, 'inflate-out'),
    ]);
    expect(restore.code).toBe(2);
    expect(restore.stderr).toMatch(/artifact files\.tar\.gz: gzip data is damaged \(invalid block type\)/);
    expect(restore.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('--dry-run on files and credentials backups verifies and writes nothing', async () => {
    const repo = await filesBackup('dry', 2, 100);
    const credentialsDir = join(work, 'credentials');
    await mkdir(credentialsDir);
    await writeFile(join(credentialsDir, 'api.json'), '{"token":"t"}');
    const backup = await runCli([
      'backup',
      'credentials',
      '--dir',
      credentialsDir,
      '--allow-plaintext',
      '--to',
      repo,
      '--pipeline',
      'creds',
    ]);
    expect(backup.code).toBe(0);
    for (const pipeline of ['dry', 'creds']) {
      const target = join(work, `dry-run-${pipeline}`);
      const dry = await runCli([
        'restore',
        `${pipeline}@latest`,
        '--from',
        repo,
        '--to-dir',
        target,
        '--dry-run',
      ]);
      expect(dry.stderr).toContain(`dry run: would restore ${pipeline}@`);
      expect(dry.code).toBe(0);
      await expect(stat(target)).rejects.toThrow(/ENOENT/);
    }
  });

  it('cleanup --to-dir finishes a switch a killed restore left half-done, and --to-file removes dead partial files', async () => {
    const parent = join(work, 'cleanup');
    const target = join(parent, 'service');
    const staging = join(parent, '.service.nexus-restore-Zz9Yy8');
    await mkdir(join(staging, 'tree'), { recursive: true });
    await writeFile(join(staging, 'tree', 'new.conf'), 'restored');
    await mkdir(join(staging, 'old'));
    await writeFile(join(staging, 'old', 'old.conf'), 'previous');
    const journal = {
      tool: 'nexus-backup',
      version: 1,
      phase: 'switching',
      target,
      hadTarget: true,
      host: hostname(),
      pid: deadPid(),
      startedAt: new Date().toISOString(),
    };
    await writeFile(join(staging, 'journal.json'), JSON.stringify(journal));
    const partial = join(parent, `.dump.sql.${deadPid()}-0123456789ab.partial`);
    const live = join(parent, `.dump.sql.${process.pid}-ba9876543210.partial`);
    await writeFile(partial, 'decrypted');
    await writeFile(live, 'being written');

    const cleanup = await runCli(['cleanup', '--to-dir', target]);
    expect(cleanup.code).toBe(0);
    expect(cleanup.stdout).toMatch(/^finished the switch of a killed restore into /);
    expect(await readdir(target)).toEqual(['new.conf']);

    const files = await runCli(['cleanup', '--to-file', join(parent, 'dump.sql')]);
    expect(files.code).toBe(0);
    expect(files.stdout).toContain(`removed ${partial}`);
    expect((await readdir(parent)).sort()).toEqual([live.slice(parent.length + 1), 'service'].sort());
  });

  it('cleanup without a target is a usage error', async () => {
    const cleanup = await runCli(['cleanup']);
    expect(cleanup.code).toBe(64);
    expect(cleanup.stderr).toContain('pass --to-dir DIR, --to-file FILE, or --create-db NAME --db URL');
  });
});
