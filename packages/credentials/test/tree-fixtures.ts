import { createHash } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import type { Artifact, RestoreArtifact, RunContext, Source } from '@nexus-backup/core';
import { afterEach } from 'vitest';

/** A fresh temp folder per test, removed by the returned cleanup. */
export async function tempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `nexus-${label}-`));
}

/**
 * Temp directories removed after each test of the calling file: `const dirs = tempDirsPerTest();`
 * then `const [source, target] = await dirs('source', 'target');`.
 */
export function tempDirsPerTest(): (...labels: string[]) => Promise<string[]> {
  const created: string[] = [];
  afterEach(async () => {
    await removeDirs(created.splice(0));
  });
  return async (...labels) => {
    const made = await Promise.all(labels.map((label) => tempDir(label)));
    created.push(...made);
    return made;
  };
}

export async function removeDirs(dirs: string[]): Promise<void> {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
}

type FolderNode = { dir: true; mode?: number; mtime?: Date };
export type FixtureNode =
  | { file: string | Buffer; mode?: number; mtime?: Date }
  | FolderNode
  | { symlink: string };

/** Writes files, folders and symlinks; folder modes and mtimes are set last so writes inside don't change them. */
export async function writeTree(root: string, nodes: Record<string, FixtureNode>): Promise<void> {
  const folderTimes: Array<[string, FolderNode]> = [];
  for (const [path, node] of Object.entries(nodes)) {
    const absolute = join(root, path);
    if ('dir' in node) {
      await mkdir(absolute, { recursive: true });
      folderTimes.push([absolute, node]);
      continue;
    }
    await mkdir(dirname(absolute), { recursive: true });
    if ('symlink' in node) {
      await symlink(node.symlink, absolute);
      continue;
    }
    await writeFile(absolute, node.file, { mode: node.mode ?? 0o644 });
    if (node.mode !== undefined) await chmod(absolute, node.mode);
    if (node.mtime) await utimes(absolute, node.mtime, node.mtime);
  }
  folderTimes.sort((a, b) => b[0].length - a[0].length);
  for (const [absolute, node] of folderTimes) {
    if (node.mode !== undefined) await chmod(absolute, node.mode);
    if (node.mtime) await utimes(absolute, node.mtime, node.mtime);
  }
}

export interface SnapshotEntry {
  kind: 'file' | 'directory' | 'symlink';
  mode: string;
  /** Whole seconds: tar headers keep mtimes to the second. */
  mtime: number;
  sha256?: string;
  size?: number;
  target?: string;
}

/** Everything under `root` that a byte-identical restore must reproduce (symlink modes are meaningless on Linux). */
export async function snapshotTree(root: string): Promise<Record<string, SnapshotEntry>> {
  const result: Record<string, SnapshotEntry> = {};
  const visit = async (relative: string) => {
    for (const name of (await readdir(join(root, relative))).sort()) {
      const path = relative ? `${relative}/${name}` : name;
      const absolute = join(root, path);
      const stats = await lstat(absolute);
      const mtime = Math.floor(stats.mtimeMs / 1000);
      if (stats.isSymbolicLink()) {
        result[path] = { kind: 'symlink', mode: '-', mtime, target: await readlink(absolute) };
      } else if (stats.isDirectory()) {
        await visit(path);
        result[path] = { kind: 'directory', mode: (stats.mode & 0o7777).toString(8), mtime };
      } else {
        const content = await readFile(absolute);
        result[path] = {
          kind: 'file',
          mode: (stats.mode & 0o7777).toString(8),
          mtime,
          size: content.length,
          sha256: createHash('sha256').update(content).digest('hex'),
        };
      }
    }
  };
  await visit('');
  return result;
}

export interface BackedUp {
  artifacts: Array<{
    name: string;
    bytes: Buffer;
    meta: Artifact['meta'];
    expectedBytes: number | undefined;
  }>;
}

/** Runs a backup and keeps each artifact in memory (test archives are small). */
export async function runBackup(source: Source, ctx: RunContext): Promise<BackedUp> {
  const artifacts: BackedUp['artifacts'] = [];
  for await (const artifact of source.backup(ctx)) {
    const chunks: Buffer[] = [];
    for await (const chunk of artifact.stream) chunks.push(chunk as Buffer);
    artifacts.push({
      name: artifact.name,
      bytes: Buffer.concat(chunks),
      meta: artifact.meta,
      expectedBytes: artifact.expectedBytes,
    });
  }
  return { artifacts };
}

/** Hands stored artifacts back to a restore the way core does: one stream per artifact. */
export async function* restoreArtifacts(
  artifacts: Array<{ name: string; bytes: Buffer }>,
  streamFor: (bytes: Buffer) => Readable = (bytes) => Readable.from([bytes]),
): AsyncIterable<RestoreArtifact> {
  for (const artifact of artifacts) {
    yield {
      name: artifact.name,
      stream: streamFor(artifact.bytes),
      rawBytes: artifact.bytes.length,
      meta: {},
    };
  }
}

/** A stream that delivers `bytes` and then errors instead of ending, as core does on a hash mismatch. */
export function failingAtEnd(bytes: Buffer, afterBytes = bytes.length): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(bytes.subarray(0, afterBytes));
        return;
      }
      this.destroy(new Error('sha256 of credentials.tar does not match the manifest'));
    },
  });
}
