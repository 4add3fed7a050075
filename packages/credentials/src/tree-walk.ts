import type { Stats } from 'node:fs';
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import { isAbsolute, join, posix } from 'node:path';
import type { Logger } from '@nexus-backup/core';
import { NexusError } from '@nexus-backup/core';
import type { TreeEntry } from './tree-entry.js';

export interface WalkRules {
  provider: string;
  /** Store what symlinks point to instead of the links themselves. */
  followSymlinks: boolean;
  /** Store directory entries (so empty folders, modes and mtimes of folders survive). */
  keepDirectories: boolean;
  /** Excluded paths are skipped entirely; an excluded directory is not read. */
  excluded(path: string): boolean;
  /** Whether a file or symlink that is not excluded is stored. */
  included(path: string): boolean;
  /** Whether to read the directory at `path` (`''` is the base itself). */
  descend(path: string): boolean;
  log: Logger;
}

/** describe() and backup() of one run both walk the tree: one warning per run's logger is enough. */
const warned = new WeakMap<Logger, Set<string>>();
function warnOnce(log: Logger, message: string): void {
  const seen = warned.get(log) ?? new Set<string>();
  warned.set(log, seen);
  if (seen.has(message)) return;
  seen.add(message);
  log.warn(message);
}

/** `<repository>/<pipeline>/` holds `.leases` (every run that writes takes one there first). */
async function isRepositoryPipelineFolder(path: string): Promise<boolean> {
  const leases = await lstat(join(path, '.leases')).catch(() => undefined);
  return leases?.isDirectory() === true;
}

/**
 * Lists what a backup stores under `baseDir`, starting from `roots` (relative, `/`-separated, `''` for
 * the base itself). Entries come parents first, names sorted, each path once. Only names and sizes are
 * read here, never contents.
 */
export async function walkTree(baseDir: string, roots: string[], rules: WalkRules): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  const seen = new Set<string>();

  const visit = async (path: string, stats: Stats, ancestors: ReadonlySet<string>): Promise<void> => {
    if (seen.has(path)) return;
    if (path !== '' && rules.excluded(path)) return;
    seen.add(path);
    if (stats.isSymbolicLink()) {
      if (!rules.included(path)) return;
      await checkSymlinkStaysInside(baseDir, path, rules.provider);
      entries.push({ path, kind: 'symlink', size: 0, stats });
    } else if (stats.isDirectory()) {
      if (await isRepositoryPipelineFolder(join(baseDir, path))) {
        warnOnce(
          rules.log,
          `[${rules.provider}] skipping "${path || '.'}": it is a pipeline folder of a nexus-backup repository (it holds .leases); storing it would copy every earlier backup into each new one; leave the repository out with --exclude`,
        );
        return;
      }
      if (path !== '' && rules.keepDirectories) entries.push({ path, kind: 'directory', size: 0, stats });
      if (!rules.descend(path)) return;
      const identity = `${stats.dev}:${stats.ino}`;
      if (ancestors.has(identity)) {
        throw new NexusError('USAGE', `symlink loop at "${path}"`, {
          provider: rules.provider,
          hint: 'exclude it with --exclude, or back up without --follow-symlinks',
        });
      }
      const inner = new Set(ancestors).add(identity);
      const names = (await readdir(join(baseDir, path))).sort();
      for (const name of names) {
        const child = path === '' ? name : `${path}/${name}`;
        if (rules.excluded(child)) continue;
        const childStats = await statEntry(baseDir, child, rules);
        if (childStats) await visit(child, childStats, inner);
      }
    } else if (stats.isFile()) {
      if (rules.included(path)) entries.push({ path, kind: 'file', size: stats.size, stats });
    } else {
      rules.log.warn(`[${rules.provider}] skipping "${path}": not a regular file, folder or symlink`);
    }
  };

  for (const root of roots) {
    const stats = await statEntry(baseDir, root, rules, true);
    if (stats) await visit(root, stats, new Set());
  }
  return entries;
}

/** lstat, or stat when following symlinks; a dangling link is an error only when it would be stored. */
async function statEntry(
  baseDir: string,
  path: string,
  rules: WalkRules,
  isRoot = false,
): Promise<Stats | undefined> {
  const absolute = join(baseDir, path);
  let stats: Stats;
  try {
    stats = await lstat(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (isRoot && (code === 'ENOENT' || code === 'ENOTDIR')) {
      throw new NexusError('NOT_FOUND', `"${path || '.'}" does not exist in ${baseDir}`, {
        provider: rules.provider,
        cause: error,
        hint: 'check the path (paths are relative to --base-dir)',
      });
    }
    throw error;
  }
  if (!stats.isSymbolicLink() || !rules.followSymlinks) return stats;
  try {
    return await stat(absolute);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    // A dangling link the rules would not store anyway is not worth failing the backup for.
    if (!isRoot && !rules.included(path)) return undefined;
    throw new NexusError(
      'NOT_FOUND',
      `symlink "${path}" points to "${await readlink(absolute)}", which does not exist`,
      {
        provider: rules.provider,
        cause: error,
        hint: 'fix or exclude the link',
      },
    );
  }
}

/**
 * A symlink is stored as a link only if it points inside the base directory by a relative path: a
 * restore refuses links leading out of its target, so such a backup could never be restored.
 */
async function checkSymlinkStaysInside(baseDir: string, path: string, provider: string): Promise<void> {
  const target = await readlink(join(baseDir, path));
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  if (isAbsolute(target) || resolved === '..' || resolved.startsWith('../')) {
    throw new NexusError('USAGE', `symlink "${path}" points outside the base directory (to "${target}")`, {
      provider,
      hint: 'pass --follow-symlinks to store what it points to, or leave it out with --exclude',
    });
  }
}
