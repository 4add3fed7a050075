import { lstat, readdir, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { isRunOwnerDead } from '@nexus-backup/core';

/**
 * `.<name>.<pid>-<random>.partial` next to the file being written: the pid tells the next run whether
 * the writer is gone. Partial files of versions without the pid are removed once this old (a live
 * writer keeps touching its file).
 */
export const UNOWNED_PARTIAL_GRACE_MS = 60 * 60 * 1000;

export function partialName(target: string, random: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}-${random}.partial`);
}

/** Removes the partial files dead restores to `target` left (they can hold a decrypted dump); returns their paths. */
export async function removeDeadPartials(target: string, now = Date.now()): Promise<string[]> {
  const prefix = `.${basename(target)}.`;
  const removed: string[] = [];
  const names = await readdir(dirname(target)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.partial')) continue;
    const middle = name.slice(prefix.length, -'.partial'.length);
    const owned = /^(\d+)-[0-9a-f]{12}$/.exec(middle);
    const path = join(dirname(target), name);
    if (owned) {
      if (
        !isRunOwnerDead({ host: hostname(), pid: Number(owned[1]), startedAt: new Date(now).toISOString() })
      )
        continue;
    } else {
      if (!/^[0-9a-f]{12}$/.test(middle)) continue;
      const stats = await lstat(path);
      if (now - stats.mtimeMs < UNOWNED_PARTIAL_GRACE_MS) continue;
    }
    await unlink(path).catch(() => {});
    removed.push(path);
  }
  return removed;
}
