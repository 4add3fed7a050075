import type { Stats } from 'node:fs';
import { chmod, lchown, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { StagedItem } from './staged-tree.js';
import { depth } from './staged-tree.js';
import type { ExtractedEntry } from './tar-extract.js';

export interface FolderModeOptions {
  stagedDir: string;
  items: StagedItem[];
  entries: Map<string, ExtractedEntry>;
  /** The existing target's folders (`''` is the target itself); empty when there was no target. */
  existing: Map<string, Stats>;
  /** Credentials: every folder 0700. Otherwise a folder the target had keeps its mode, a new one gets the archive's. */
  privateFolders: boolean;
}

/**
 * Gives every folder of the staged tree its final mode, owner and mtime, deepest first: a folder's
 * mtime must be set after everything inside it changed. Folders were created writable (0700) to fill them.
 */
export async function settleFolders(options: FolderModeOptions): Promise<void> {
  const { stagedDir, entries, existing } = options;
  const archived = new Set(
    options.items.filter((item) => item.kind === 'directory').map((item) => item.path),
  );
  const folders = [...new Set(['', ...archived, ...existing.keys()])];
  folders.sort((a, b) => depth(b) - depth(a));
  const asRoot = process.getuid?.() === 0;
  for (const path of folders) {
    const to = join(stagedDir, path);
    const old = existing.get(path);
    const entry = entries.get(path);
    const mode = options.privateFolders
      ? 0o700
      : old
        ? old.mode & 0o7777
        : path === ''
          ? 0o777 & ~process.umask()
          : entry?.mode;
    if (mode !== undefined) await chmod(to, mode);
    // Restoring as root into a folder someone else owns must not hand that folder to root.
    if (old && asRoot) await lchown(to, old.uid, old.gid);
    if (old && !archived.has(path) && path !== '') await utimes(to, old.atime, old.mtime);
    else if (!old && entry?.mtime && path !== '') await utimes(to, new Date(), entry.mtime);
  }
}
