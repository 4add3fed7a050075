import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copySampleService, runCli, tempDir } from './helpers/cli.js';

describe('prune', () => {
  it('--dry-run prints the decision table and removes nothing; the real run keeps what the policy keeps', async () => {
    const service = await copySampleService();
    const repo = await tempDir('prune');
    for (let run = 0; run < 4; run += 1) {
      expect(
        (await runCli(['backup', 'files', '.env', '--to', repo, '--pipeline', 'config'], { cwd: service }))
          .code,
      ).toBe(0);
    }
    // Oldest first by start time (several backups can share a second, and ids only have seconds).
    const listed = JSON.parse((await runCli(['list', 'config', '--from', repo, '--json'])).stdout);
    const ids = (listed.backups as { id: string }[]).map((backup) => backup.id);
    expect(ids).toHaveLength(4);

    const dryRun = await runCli(['prune', 'config', '--from', repo, '--keep-last', '2', '--dry-run']);
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain('ACTION');
    expect(dryRun.stdout.match(/\bremove\b/g)).toHaveLength(2);
    expect(dryRun.stdout).toContain('keep-last');
    expect((await readdir(join(repo, 'config'))).sort()).toEqual([...ids].sort());

    const real = await runCli(['prune', 'config', '--from', repo, '--keep-last', '2', '--json']);
    expect(real.code).toBe(0);
    const decisions = JSON.parse(real.stdout).decisions as { id: string; action: string }[];
    expect(decisions.filter((d) => d.action === 'remove').map((d) => d.id)).toEqual(ids.slice(0, 2));
    expect((await readdir(join(repo, 'config'))).sort()).toEqual(ids.slice(2).sort());
  });

  it('refuses an empty policy instead of removing every backup', async () => {
    const service = await copySampleService();
    const repo = await tempDir('prune');
    expect(
      (await runCli(['backup', 'files', '.env', '--to', repo, '--pipeline', 'config'], { cwd: service }))
        .code,
    ).toBe(0);
    const prune = await runCli(['prune', 'config', '--from', repo]);
    expect(prune.code).toBe(64);
    expect(prune.stderr).toContain('--keep-last');
    expect(await readdir(join(repo, 'config'))).toHaveLength(1);
  });
});
