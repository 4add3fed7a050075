import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** An item unpacked into the staging folder, `/`-separated path relative to it. */
export interface StagedItem {
  path: string;
  kind: 'file' | 'directory' | 'symlink';
  size: number;
}

/** Everything under `root`, parents before children, names sorted; symlinks are listed, never followed. */
export async function listStaged(root: string): Promise<StagedItem[]> {
  const items: StagedItem[] = [];
  const visit = async (relative: string): Promise<void> => {
    const dirents = await readdir(join(root, relative), { withFileTypes: true });
    dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const dirent of dirents) {
      const path = relative === '' ? dirent.name : `${relative}/${dirent.name}`;
      if (dirent.isDirectory()) {
        items.push({ path, kind: 'directory', size: 0 });
        await visit(path);
      } else if (dirent.isSymbolicLink()) {
        items.push({ path, kind: 'symlink', size: 0 });
      } else {
        items.push({ path, kind: 'file', size: (await lstat(join(root, path))).size });
      }
    }
  };
  await visit('');
  return items;
}

export function depth(path: string): number {
  return path.split('/').length;
}
