import { execFileSync } from 'node:child_process';
import { zstd } from '@acme/nexus-backup-zstd';
import { describeTransformConformance } from '@nexus-backup/testkit';
import { describe, expect, it } from 'vitest';

// The whole conformance suite an in-house transform needs: one call.
describeTransformConformance('zstd', async () => ({ transform: await zstd.create({ level: 3 }) }), {
  largeBytes: 4 * 1024 * 1024,
});

describe('zstd in-house provider', () => {
  it('refuses a level outside 1-19 with a usage error', () => {
    expect(() => zstd.create({ level: 42 })).toThrow(/from 1 to 19/);
  });

  it('is picked up by the CLI through --plugin and restores what it stored', async () => {
    const { mkdtemp, writeFile, readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'zstd-example-'));
    await writeFile(join(dir, 'app.conf'), 'setting = value\n'.repeat(1000));
    const cli = join(import.meta.dirname, '../../../apps/cli/bin/nexus-backup.js');
    const plugin = join(import.meta.dirname, '../dist/index.js');
    const run = (args: string[]) =>
      execFileSync(process.execPath, [cli, '--plugin', plugin, ...args], { cwd: dir, encoding: 'utf8' });
    run([
      'backup',
      'files',
      'app.conf',
      '--to',
      join(dir, 'repo'),
      '--pipeline',
      'conf',
      '--no-gzip',
      '--zstd=9',
    ]);
    const listed = JSON.parse(run(['list', '--from', join(dir, 'repo'), '--json']));
    expect(listed.backups[0].artifacts[0].file).toBe('files.tar.zst');
    run(['restore', 'conf@latest', '--from', join(dir, 'repo'), '--to-dir', join(dir, 'out')]);
    expect(await readFile(join(dir, 'out', 'app.conf'), 'utf8')).toBe('setting = value\n'.repeat(1000));
  });
});
