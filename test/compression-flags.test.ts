import { execFileSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';

describe('compression flags on backup', () => {
  let dir: string;
  const content = 'DATABASE_URL=postgresql://app@db/app\n'.repeat(500);

  beforeAll(async () => {
    dir = await tempDir('compression');
    await writeFile(join(dir, '.env'), content);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function backupArtifact(pipeline: string, flags: string[]): Promise<string> {
    const result = await runCli(
      ['backup', 'files', '.env', '--to', join(dir, 'repo'), '--pipeline', pipeline, ...flags],
      { cwd: dir },
    );
    expect(result.stderr).not.toMatch(/error/);
    expect(result.code).toBe(0);
    const listed = await runCli(['list', pipeline, '--from', join(dir, 'repo'), '--json']);
    return JSON.parse(listed.stdout).backups[0].artifacts[0].file;
  }

  it('compresses with gzip when no compressor is named', async () => {
    expect(await backupArtifact('default', [])).toBe('files.tar.gz');
  });

  it('--zstd replaces the default gzip instead of compressing twice, and zstd -d reads the artifact', async () => {
    expect(await backupArtifact('zstd', ['--zstd'])).toBe('files.tar.zst');
    const [id] = JSON.parse(
      (await runCli(['list', 'zstd', '--from', join(dir, 'repo'), '--json'])).stdout,
    ).backups.map((backup: { id: string }) => backup.id);
    const tar = execFileSync('zstd', ['-dc', join(dir, 'repo', 'zstd', id, 'files.tar.zst')]);
    expect(tar.includes(Buffer.from(content))).toBe(true);
    const restored = await runCli([
      'restore',
      'zstd@latest',
      '--from',
      join(dir, 'repo'),
      '--to-dir',
      join(dir, 'out'),
    ]);
    expect(restored.code).toBe(0);
    expect(await readFile(join(dir, 'out', '.env'), 'utf8')).toBe(content);
  });

  it("a source's preferred compressor replaces gzip; one that is not installed falls back to gzip", async () => {
    const plugin = join(import.meta.dirname, 'fixtures/preferring-sources.mjs');
    const stored = async (source: string, pipeline: string) => {
      const result = await runCli(
        ['--plugin', plugin, 'backup', source, '--to', join(dir, 'repo'), '--pipeline', pipeline],
        { cwd: dir },
      );
      expect(result.stderr).not.toMatch(/error/);
      expect(result.code).toBe(0);
      const listed = await runCli(['list', pipeline, '--from', join(dir, 'repo'), '--json']);
      return JSON.parse(listed.stdout).backups[0].artifacts[0].file;
    };
    expect(await stored('prefers-zstd', 'prefers-zstd')).toBe('data.txt.zst');
    expect(await stored('prefers-missing', 'prefers-missing')).toBe('data.txt.gz');
  });

  it('naming both compressors keeps both, as asked', async () => {
    expect(await backupArtifact('both', ['--gzip', '--zstd=1'])).toBe('files.tar.gz.zst');
  });
});
