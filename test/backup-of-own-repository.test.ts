import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';

/**
 * `cd service && nexus-backup backup files . --to ./backups`: the repository lies inside what is backed
 * up. Stored, every backup would hold all earlier ones (doubling each night) and its own lease.
 */

let work: string;
const service = () => join(work, 'service');

beforeAll(async () => {
  work = await tempDir('own-repository');
  await mkdir(service());
  await writeFile(join(service(), '.env'), 'TOKEN=x\n');
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('backing up a folder that holds the repository', () => {
  it('leaves the repository out with one warning (exit 1), so the second backup holds only the service files', async () => {
    for (let index = 0; index < 2; index += 1) {
      if (index > 0) await sleep(1100); // a second backup id, one second on
      const result = await runCli(['backup', 'files', '.', '--to', './backups'], { cwd: service() });
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr.match(/^warning: .*/gm)).toEqual([
        'warning: [files] skipping "backups/files": it is a pipeline folder of a nexus-backup repository (it holds .leases); storing it would copy every earlier backup into each new one; leave the repository out with --exclude',
      ]);
    }
    const out = join(work, 'restored');
    const restored = await runCli([
      'restore',
      'files@latest',
      '--from',
      join(service(), 'backups'),
      '--to-dir',
      out,
    ]);
    expect(restored.code, restored.stderr).toBe(0);
    expect((await readdir(out, { recursive: true })).sort()).toEqual(['.env', 'backups']);
  });

  it('with --exclude of the repository: no warning, exit 0', async () => {
    const result = await runCli(['backup', 'files', '.', '--exclude', 'backups', '--to', './backups'], {
      cwd: service(),
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toContain('warning:');
  });
});
