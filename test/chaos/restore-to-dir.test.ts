import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.js';
import { FULL, randomMoment, runKilledAfter, treeDigest } from './kill-support.js';

const FILES = FULL ? 20_000 : 2_000;
const KILLS = FULL ? 10 : 4;

let work: string;
let repo: string;
const versions: Record<'a' | 'b', { id: string; digest: string }> = {
  a: { id: '', digest: '' },
  b: { id: '', digest: '' },
};
let typicalMs = 0;

/** The same paths in both versions (so each restores exactly over the other), different contents. */
async function writeVersion(root: string, version: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
  for (let folder = 0; folder < 50; folder += 1) await mkdir(join(root, `d${folder}`), { recursive: true });
  for (let index = 0; index < FILES; index += 1) {
    const changed = index % 2 === 0 ? version : 'same';
    await writeFile(join(root, `d${index % 50}`, `f${index}.conf`), `${changed} ${index}\n`);
  }
}

async function backupVersion(version: 'a' | 'b'): Promise<void> {
  await writeVersion(join(work, 'src', 'service'), version);
  const backup = await runCli([
    'backup',
    'files',
    'service',
    '--base-dir',
    join(work, 'src'),
    '--to',
    repo,
    '--pipeline',
    'many',
    '--json',
  ]);
  expect(backup.code).toBe(0);
  versions[version] = {
    id: JSON.parse(backup.stdout).id,
    digest: (await treeDigest(join(work, 'src', 'service'))) as string,
  };
}

/** What a restore of `id` into `target` runs. */
function restoreArgs(id: string, target: string, force: boolean): string[] {
  return ['restore', `many@${id}`, '--from', repo, '--to-dir', target, ...(force ? ['--force'] : [])];
}

async function leftovers(target: string): Promise<string[]> {
  const names = await readdir(dirname(target));
  return names.filter((name) => name.startsWith(`.${basename(target)}.nexus-restore-`));
}

beforeAll(async () => {
  work = await tempDir('chaos-to-dir');
  repo = join(work, 'repo');
  await backupVersion('a');
  await backupVersion('b');
  const started = Date.now();
  const probe = await runCli(restoreArgs(versions.a.id, join(work, 'probe'), false));
  typicalMs = Date.now() - started;
  expect(probe.code).toBe(0);
  expect(await treeDigest(join(work, 'probe', 'service'))).toBe(versions.a.digest);
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe(`restore --to-dir of ${FILES} files killed with SIGKILL at random moments`, () => {
  it('into a new folder: the target is absent or complete; cleanup and a retry leave exactly the backup', async () => {
    for (let kill = 0; kill < KILLS; kill += 1) {
      const target = join(work, `fresh-${kill}`);
      await runKilledAfter(restoreArgs(versions.b.id, target, false), randomMoment(typicalMs));
      const right = await treeDigest(join(target, 'service'));
      expect([undefined, versions.b.digest]).toContain(right);

      const cleanup = await runCli(['cleanup', '--to-dir', target]);
      expect(cleanup.code).toBe(0);
      expect(await leftovers(target)).toEqual([]);
      expect([undefined, versions.b.digest]).toContain(await treeDigest(join(target, 'service')));

      await rm(target, { recursive: true, force: true });
      const retry = await runCli(restoreArgs(versions.b.id, target, false));
      expect(retry.code).toBe(0);
      expect(await treeDigest(join(target, 'service'))).toBe(versions.b.digest);
    }
  }, 1_800_000);

  it('with --force over an older copy: exactly old or exactly new, never a mix; the next restore finishes the job', async () => {
    const target = join(work, 'forced');
    expect((await runCli(restoreArgs(versions.a.id, target, false))).code).toBe(0);
    let current: 'a' | 'b' = 'a';
    for (let kill = 0; kill < KILLS; kill += 1) {
      const next = current === 'a' ? 'b' : 'a';
      await runKilledAfter(restoreArgs(versions[next].id, target, true), randomMoment(typicalMs));

      // Right after the kill: old, new, or (killed between the two renames) no target and the old
      // content waiting whole in the staging folder, which the next run puts in order.
      const now = await treeDigest(join(target, 'service'));
      if (now === undefined) {
        const [staging] = await leftovers(target);
        expect(staging).toBeDefined();
        expect(await treeDigest(join(dirname(target), staging as string, 'old', 'service'))).toBe(
          versions[current].digest,
        );
      } else {
        expect([versions[current].digest, versions[next].digest]).toContain(now);
      }

      // The next restore (here: the retry) settles the killed one first, then restores.
      const retry = await runCli(restoreArgs(versions[next].id, target, true));
      expect(retry.code).toBe(0);
      expect(await treeDigest(join(target, 'service'))).toBe(versions[next].digest);
      expect(await leftovers(target)).toEqual([]);
      current = next;
    }
  }, 1_800_000);
});
