import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestContext } from '@nexus-backup/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { commitStaged } from '../src/commit-staged.js';
import { listStaged } from '../src/staged-tree.js';
import { removeDirs, snapshotTree, tempDir, writeTree } from './tree-fixtures.js';

const created: string[] = [];
afterEach(async () => {
  await removeDirs(created.splice(0));
});

describe('commitStaged', () => {
  it('undoes every move, replacement and new folder when a move fails half-way', async () => {
    const staging = await tempDir('commit-staging');
    const target = await tempDir('commit-target');
    created.push(staging, target);
    const stagedDir = join(staging, 'tree');
    const replacedDir = join(staging, 'replaced');
    await mkdir(replacedDir);
    await writeTree(stagedDir, {
      'a.conf': { file: 'new a' },
      'new/b.conf': { file: 'new b' },
      'z.conf': { file: 'new z' },
    });
    await writeTree(target, { 'a.conf': { file: 'old a' }, 'keep.txt': { file: 'keep' } });
    const targetBefore = await snapshotTree(target);
    const stagedBefore = await snapshotTree(stagedDir);
    // The last item does not exist in staging, so its rename fails after the others succeeded.
    const items = [
      ...(await listStaged(stagedDir)),
      { path: 'zz-vanished.conf', kind: 'file' as const, size: 0 },
    ];

    const error = await commitStaged({
      stagedDir,
      replacedDir,
      target,
      items,
      entries: new Map(),
      force: true,
      privateFolders: false,
      provider: 'files',
      log: createTestContext().log,
    }).catch((e: unknown) => e);

    expect((error as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(await snapshotTree(target)).toEqual(targetBefore);
    // Moving a file out of a staged folder and back sets that folder's mtime to now, which crosses a
    // second boundary now and then; staging is ours, so what must come back is its content, not its folder times.
    expect(withoutFolderTimes(await snapshotTree(stagedDir))).toEqual(withoutFolderTimes(stagedBefore));
  });
});

function withoutFolderTimes(tree: Awaited<ReturnType<typeof snapshotTree>>) {
  return Object.fromEntries(
    Object.entries(tree).map(([path, entry]) =>
      entry.kind === 'directory' ? [path, { ...entry, mtime: undefined }] : [path, entry],
    ),
  );
}
