import { execFileSync } from 'node:child_process';
import { link, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { OptionValues } from '@nexus-backup/core';
import { isNexusError, NexusError } from '@nexus-backup/core';
import { files } from '@nexus-backup/credentials';
import { createTestContext } from '@nexus-backup/testkit';
import { describe, expect, it } from 'vitest';
import { restoreArtifacts, runBackup, snapshotTree, tempDirsPerTest, writeTree } from './tree-fixtures.js';

const dirs = tempDirsPerTest();

const past = (iso: string) => new Date(iso);

async function sampleService(base: string) {
  await writeTree(base, {
    '.env': {
      file: 'DATABASE_URL=postgres://app@db/app\n',
      mode: 0o600,
      mtime: past('2024-03-01T10:00:00Z'),
    },
    'docker-compose.yml': {
      file: 'services:\n  app:\n    image: app\n',
      mtime: past('2024-03-02T10:00:00Z'),
    },
    'docker/app/Dockerfile': { file: 'FROM node:24\n', mode: 0o640, mtime: past('2024-03-03T10:00:00Z') },
    'docker/app/entrypoint.sh': { file: '#!/bin/sh\nexec node app.js\n', mode: 0o755 },
    'docker/app/empty.conf': { file: '' },
    'docker/cache': { dir: true, mode: 0o750, mtime: past('2024-01-01T00:00:00Z') },
    'docker/données/ünïcødé 文件.txt': { file: 'unicode name\n' },
    'docker/current': { symlink: 'app/Dockerfile' },
    'docker/app': { dir: true, mode: 0o755, mtime: past('2024-02-01T00:00:00Z') },
    docker: { dir: true, mode: 0o711, mtime: past('2024-02-02T00:00:00Z') },
    'unrelated.txt': { file: 'not backed up' },
  });
}

const selected = ['.env', 'docker-compose.yml', 'docker'];

function restoreTo(toDir: string, force = false): OptionValues {
  return { toDir, force };
}

describe('files source', () => {
  it('restores a byte-identical tree: contents, modes, mtimes, empty files and folders, symlinks, unicode names', async () => {
    const [base, out] = await dirs('files-base', 'files-out');
    await sampleService(base!);
    const source = await files.create({ paths: selected, baseDir: base!, followSymlinks: false });
    const ctx = createTestContext();
    const { artifacts } = await runBackup(source, ctx);
    expect(artifacts.map((a) => a.name)).toEqual(['files.tar']);

    const target = join(out!, 'restored');
    const report = await source.restore(ctx, restoreArtifacts(artifacts), restoreTo(target));

    const original = await snapshotTree(base!);
    delete original['unrelated.txt'];
    expect(await snapshotTree(target)).toEqual(original);
    expect(original['docker/current']).toMatchObject({ kind: 'symlink', target: 'app/Dockerfile' });
    expect(original['docker/cache']).toMatchObject({ kind: 'directory', mode: '750' });
    expect(report.lines[0]).toContain('restored 7 file(s)');
  });

  it('drops setuid and setgid bits from restored files but keeps the sticky bit and the rest', async () => {
    const [base, out] = await dirs('files-setid', 'files-setid-out');
    await writeTree(base!, {
      'bin/tool': { file: '#!/bin/sh\n', mode: 0o6755 },
      'bin/sticky': { file: '', mode: 0o1644 },
    });
    const source = await files.create({ paths: ['bin'], baseDir: base!, followSymlinks: false });
    const { artifacts } = await runBackup(source, createTestContext());
    await source.restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!));
    const restored = await snapshotTree(out!);
    expect(restored['bin/tool']?.mode).toBe('755');
    expect(restored['bin/sticky']?.mode).toBe('1644');
  });

  it('round-trips odd names: spaces, backslashes, newlines, and paths longer than a tar header holds', async () => {
    const [base, out] = await dirs('files-names', 'files-names-out');
    const deep = `${'very-long-folder-name-'.repeat(6)}/${'x'.repeat(120)}.conf`;
    await writeTree(base!, {
      'odd/with space.txt': { file: 'a' },
      'odd/back\\slash.txt': { file: 'b' },
      'odd/new\nline.txt': { file: 'c' },
      [`odd/${deep}`]: { file: 'd' },
    });
    const source = await files.create({ paths: ['odd'], baseDir: base!, followSymlinks: false });
    const { artifacts } = await runBackup(source, createTestContext());
    await source.restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!));
    expect(await snapshotTree(out!)).toEqual(await snapshotTree(base!));
    expect(await readFile(join(out!, 'odd', deep), 'utf8')).toBe('d');
  });

  it('keeps hard links as hard links', async () => {
    const [base, out] = await dirs('files-hardlink', 'files-hardlink-out');
    await writeTree(base!, { 'conf/a.conf': { file: 'shared\n' } });
    await link(join(base!, 'conf/a.conf'), join(base!, 'conf/b.conf'));
    const source = await files.create({ paths: ['conf'], baseDir: base!, followSymlinks: false });
    const { artifacts } = await runBackup(source, createTestContext());
    await source.restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!));
    const [a, b] = await Promise.all([stat(join(out!, 'conf/a.conf')), stat(join(out!, 'conf/b.conf'))]);
    expect(b.ino).toBe(a.ino);
    expect(await readFile(join(out!, 'conf/b.conf'), 'utf8')).toBe('shared\n');
  });

  it('writes a tar that GNU tar extracts to the same tree', async () => {
    const [base, out] = await dirs('files-gnutar', 'files-gnutar-out');
    await sampleService(base!);
    const source = await files.create({ paths: selected, baseDir: base!, followSymlinks: false });
    const { artifacts } = await runBackup(source, createTestContext());
    const archive = join(out!, 'files.tar');
    await writeFile(archive, artifacts[0]!.bytes);
    const extracted = join(out!, 'extracted');
    await mkdir(extracted);
    execFileSync('tar', ['-xpf', archive, '-C', extracted]);
    const original = await snapshotTree(base!);
    delete original['unrelated.txt'];
    expect(await snapshotTree(extracted)).toEqual(original);
  });

  it('describes host, paths, counts and bytes, and the git commit and dirty state of the base folder', async () => {
    const [base] = await dirs('files-git');
    await sampleService(base!);
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
        cwd: base!,
        encoding: 'utf8',
      });
    git('init', '--quiet');
    git('add', '.');
    git('commit', '--quiet', '-m', 'config');
    const commit = git('rev-parse', 'HEAD').trim();
    const source = await files.create({ paths: selected, baseDir: base!, followSymlinks: false });

    const clean = await source.describe(createTestContext());
    expect(clean).toMatchObject({
      host: hostname(),
      paths: selected,
      files: 7,
      git: { commit, dirty: false },
    });
    const snapshot = await snapshotTree(base!);
    const fileBytes = Object.entries(snapshot)
      .filter(([path]) => path !== 'unrelated.txt' && !path.startsWith('.git/') && path !== '.git')
      .reduce((sum, [, entry]) => sum + (entry.size ?? 0), 0);
    expect(clean.bytes).toBe(fileBytes);

    await writeFile(join(base!, 'docker-compose.yml'), 'services: {}\n');
    expect(await source.describe(createTestContext())).toMatchObject({ git: { commit, dirty: true } });
  });

  it('describes a folder outside any git work tree without a git entry', async () => {
    const [base] = await dirs('files-nogit');
    await writeTree(base!, { 'a.txt': { file: 'a' } });
    const source = await files.create({ paths: ['a.txt'], baseDir: base!, followSymlinks: false });
    const description = await source.describe(createTestContext());
    expect(description).not.toHaveProperty('git');
    expect(description).toMatchObject({ files: 1, bytes: 1 });
  });

  it('fails with NOT_FOUND naming a missing path before producing any artifact', async () => {
    const [base] = await dirs('files-missing');
    await sampleService(base!);
    const source = await files.create({
      paths: ['.env', 'compose.override.yml'],
      baseDir: base!,
      followSymlinks: false,
    });
    const error = await runBackup(source, createTestContext()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NexusError);
    expect(error).toMatchObject({ code: 'NOT_FOUND', exitCode: 2 });
    expect((error as Error).message).toContain('compose.override.yml');
  });

  it('refuses paths escaping the base folder with a USAGE error', async () => {
    const [base] = await dirs('files-escape');
    await writeTree(base!, { 'inner/a.txt': { file: 'a' } });
    for (const path of ['../etc/passwd', '/etc/passwd']) {
      const source = await files.create({
        paths: [path],
        baseDir: join(base!, 'inner'),
        followSymlinks: false,
      });
      const error = await runBackup(source, createTestContext()).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'USAGE', exitCode: 64 });
      expect((error as Error).message).toContain('outside the base folder');
    }
  });

  it('leaves out excluded globs at any depth, and accepts an absolute path inside the base folder', async () => {
    const [base, out] = await dirs('files-exclude', 'files-exclude-out');
    await writeTree(base!, {
      'docker/app/node_modules/x/index.js': { file: 'x' },
      'docker/app/app.js': { file: 'app' },
      'docker/app/debug.log': { file: 'log' },
      'docker/keep/notes.md': { file: 'notes' },
    });
    const source = await files.create({
      paths: [join(base!, 'docker')],
      baseDir: base!,
      exclude: ['node_modules', '*.log', 'docker/keep'],
      followSymlinks: false,
    });
    const { artifacts } = await runBackup(source, createTestContext());
    await source.restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!));
    expect(Object.keys(await snapshotTree(out!)).sort()).toEqual([
      'docker',
      'docker/app',
      'docker/app/app.js',
    ]);
  });

  it('stores what symlinks point to with followSymlinks, and refuses links leading outside the base without it', async () => {
    const [base, outside, out] = await dirs('files-links', 'files-links-outside', 'files-links-out');
    await writeTree(outside!, { 'shared.env': { file: 'SHARED=1\n' } });
    await writeTree(base!, { 'app/.env': { symlink: join(outside!, 'shared.env') } });

    const asLinks = await files.create({ paths: ['app'], baseDir: base!, followSymlinks: false });
    const refused = await runBackup(asLinks, createTestContext()).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'USAGE' });
    expect((refused as NexusError).hint).toContain('--follow-symlinks');

    const followed = await files.create({ paths: ['app'], baseDir: base!, followSymlinks: true });
    const { artifacts } = await runBackup(followed, createTestContext());
    await followed.restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!));
    expect(await readFile(join(out!, 'app/.env'), 'utf8')).toBe('SHARED=1\n');
    expect((await snapshotTree(out!))['app/.env']?.kind).toBe('file');
  });

  it('restores into a non-empty folder when nothing conflicts, keeping what was there', async () => {
    const [base, out] = await dirs('files-merge', 'files-merge-out');
    await sampleService(base!);
    await writeTree(out!, { 'README.md': { file: 'keep me' }, 'docker/other.txt': { file: 'mine' } });
    const source = await files.create({ paths: selected, baseDir: base!, followSymlinks: false });
    const { artifacts } = await runBackup(source, createTestContext());
    await source.restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!));
    expect(await readFile(join(out!, 'README.md'), 'utf8')).toBe('keep me');
    expect(await readFile(join(out!, 'docker/other.txt'), 'utf8')).toBe('mine');
    expect(await readFile(join(out!, 'docker/app/Dockerfile'), 'utf8')).toBe('FROM node:24\n');
  });

  it('refuses to overwrite existing files without force, listing them and writing nothing', async () => {
    const [base, out] = await dirs('files-conflict', 'files-conflict-out');
    await sampleService(base!);
    await writeTree(out!, {
      '.env': { file: 'LOCAL=1\n' },
      'docker/app/Dockerfile': { file: 'FROM scratch\n' },
    });
    const before = await snapshotTree(out!);
    const source = await files.create({ paths: selected, baseDir: base!, followSymlinks: false });
    const { artifacts } = await runBackup(source, createTestContext());

    const error = await source
      .restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!))
      .catch((e: unknown) => e);
    expect(isNexusError(error) && error.code).toBe('TARGET');
    expect((error as Error).message).toContain('.env');
    expect((error as Error).message).toContain('docker/app/Dockerfile');
    expect((error as NexusError).hint).toContain('--force');
    expect(await snapshotTree(out!)).toEqual(before);

    await source.restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!, true));
    expect(await readFile(join(out!, '.env'), 'utf8')).toBe('DATABASE_URL=postgres://app@db/app\n');
    expect(await readFile(join(out!, 'docker/app/Dockerfile'), 'utf8')).toBe('FROM node:24\n');
  });

  it('with force, switches in the whole new tree at once: files only in the target stay (hard links, no copy), folder modes kept', async () => {
    const [base, parent] = await dirs('files-switch', 'files-switch-out');
    const out = join(parent!, 'service');
    await sampleService(base!);
    await writeTree(out, {
      '.env': { file: 'LOCAL=1\n' },
      'docker/other.txt': { file: 'mine', mode: 0o640 },
      docker: { dir: true, mode: 0o750 },
    });
    const mine = await stat(join(out, 'docker/other.txt'));
    const before = await stat(out);
    const source = await files.create({ paths: selected, baseDir: base!, followSymlinks: false });
    const { artifacts } = await runBackup(source, createTestContext());
    const report = await source.restore(
      createTestContext(),
      restoreArtifacts(artifacts),
      restoreTo(out, true),
    );

    expect(report.details).toMatchObject({ replaced: 1 });
    expect(await readFile(join(out, '.env'), 'utf8')).toBe('DATABASE_URL=postgres://app@db/app\n');
    const carried = await stat(join(out, 'docker/other.txt'));
    expect(carried.ino).toBe(mine.ino);
    expect(carried.mode & 0o777).toBe(0o640);
    expect((await stat(join(out, 'docker'))).mode & 0o777).toBe(0o750);
    // A new folder took the old one's place; nothing of the switch stays next to it.
    expect((await stat(out)).ino).not.toBe(before.ino);
    expect(await readdir(parent!)).toEqual(['service']);
  });

  it('refuses, even with force, to put a file where the target has a folder', async () => {
    const [base, out] = await dirs('files-kind', 'files-kind-out');
    await writeTree(base!, { 'config.yml': { file: 'a: 1\n' } });
    await writeTree(out!, { 'config.yml/keep.txt': { file: 'mine' } });
    const before = await snapshotTree(out!);
    const source = await files.create({ paths: ['config.yml'], baseDir: base!, followSymlinks: false });
    const { artifacts } = await runBackup(source, createTestContext());
    const error = await source
      .restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!, true))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TARGET' });
    expect((error as Error).message).toContain('a folder is in the way');
    expect(await snapshotTree(out!)).toEqual(before);
  });
});
