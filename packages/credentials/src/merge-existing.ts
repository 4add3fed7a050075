import type { Stats } from 'node:fs';
import {
  chmod,
  copyFile,
  link,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readlink,
  symlink,
  utimes,
} from 'node:fs/promises';
import { join } from 'node:path';
import { NexusError } from '@nexus-backup/core';
import { isStagingName } from './leftover-staging.js';
import type { StagedItem } from './staged-tree.js';

export interface MergeOptions {
  /** The existing target, left unchanged. */
  target: string;
  /** The complete restored tree; receives what the target holds beyond the backup. */
  stagedDir: string;
  items: StagedItem[];
  provider: string;
}

/**
 * Makes the staged tree the target's future content: the backup's entries win (conflicts were checked
 * before), everything else the target holds is carried over as hard links (no data copied; the old
 * target stays as it was until the switch). Where a hard link is not allowed (a file of another user
 * under protected_hardlinks, too many links) the entry is copied with its mode and times. Returns the
 * target's folders (`''` for the target itself), whose modes and times settleFolders applies.
 */
export async function mergeExistingTarget(options: MergeOptions): Promise<Map<string, Stats>> {
  const staged = new Map(options.items.map((item) => [item.path, item]));
  const folders = new Map<string, Stats>([['', await lstat(options.target)]]);
  const visit = async (relative: string): Promise<void> => {
    const names = await readdir(join(options.target, relative));
    for (const name of names) {
      const path = relative === '' ? name : `${relative}/${name}`;
      const from = join(options.target, path);
      const to = join(options.stagedDir, path);
      const stats = await lstat(from);
      // A fallback staging folder inside the target (settled before) is not content to carry over.
      if (relative === '' && isStagingName(name) && stats.isDirectory()) continue;
      const mine = staged.get(path);
      if (stats.isDirectory()) {
        if (mine && mine.kind !== 'directory') continue;
        if (!mine) await mkdir(to, { mode: 0o700 });
        folders.set(path, stats);
        await visit(path);
      } else if (!mine) {
        await carryOver(from, to, stats, options.provider);
      }
    }
  };
  await visit('');
  return folders;
}

async function carryOver(from: string, to: string, stats: Stats, provider: string): Promise<void> {
  try {
    await link(from, to);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EMLINK' && code !== 'EXDEV') throw error;
  }
  if (stats.isSymbolicLink()) {
    await symlink(await readlink(from), to);
    await lutimes(to, stats.atime, stats.mtime);
  } else if (stats.isFile()) {
    await copyFile(from, to);
    await chmod(to, stats.mode & 0o7777);
    await utimes(to, stats.atime, stats.mtime);
  } else {
    throw new NexusError('TARGET', `cannot carry ${from} over into the restored folder (a special file)`, {
      provider,
      hint: 'move it out of the target folder, or restore into another --to-dir',
    });
  }
}
