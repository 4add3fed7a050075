import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** A comparable description of a directory tree: path, type, mode, mtime (s), content hash. */
export async function describeTree(root: string, options: { mtimes?: boolean } = {}): Promise<string[]> {
  const lines: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const stats = await lstat(path);
      const mode = (stats.mode & 0o7777).toString(8);
      const mtime = options.mtimes === false ? '' : ` ${Math.floor(stats.mtimeMs / 1000)}`;
      const rel = relative(root, path);
      if (stats.isDirectory()) {
        lines.push(`dir ${rel} ${mode}`);
        await walk(path);
      } else if (stats.isSymbolicLink()) {
        lines.push(`link ${rel} -> ${await readlink(path)}`);
      } else {
        const hash = createHash('sha256')
          .update(await readFile(path))
          .digest('hex');
        lines.push(`file ${rel} ${mode}${mtime} ${hash}`);
      }
    }
  }
  await walk(root);
  return lines;
}
