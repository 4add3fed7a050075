import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface WalkedFile {
  /** `/`-separated path relative to the walk's root. */
  key: string;
  path: string;
  name: string;
}

/**
 * Yields regular files under `root` whose relative key starts with `prefix`, in sorted order, entering
 * only directories that can hold such keys. A missing directory holds nothing.
 */
export async function* walkFiles(
  root: string,
  prefix: string,
  signal: AbortSignal,
): AsyncGenerator<WalkedFile> {
  const lastSlash = prefix.lastIndexOf('/');
  const startKey = lastSlash === -1 ? '' : prefix.slice(0, lastSlash + 1);
  yield* walkDirectory(root, startKey, prefix, signal);
}

async function* walkDirectory(
  root: string,
  dirKey: string,
  prefix: string,
  signal: AbortSignal,
): AsyncGenerator<WalkedFile> {
  signal.throwIfAborted();
  let entries: Dirent[];
  try {
    entries = await readdir(join(root, dirKey), { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw error;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const key = dirKey + entry.name;
    if (entry.isDirectory()) {
      const asDir = `${key}/`;
      if (asDir.startsWith(prefix) || prefix.startsWith(asDir))
        yield* walkDirectory(root, asDir, prefix, signal);
    } else if (entry.isFile() && key.startsWith(prefix)) {
      yield { key, path: join(root, key), name: entry.name };
    }
  }
}
