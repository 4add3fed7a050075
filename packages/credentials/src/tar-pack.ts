import { Readable } from 'node:stream';
import { NexusError } from '@nexus-backup/core';
import { Pack } from 'tar';
import type { TreeEntry } from './tree-entry.js';

export interface PackTreeOptions {
  baseDir: string;
  entries: TreeEntry[];
  followSymlinks: boolean;
  /** false: hard-linked files are stored as separate files (credentials restore accepts no links). */
  hardLinks: boolean;
  provider: string;
  signal: AbortSignal;
}

/** node-tar writes a Link entry when it finds a file's inode in this cache; one that never remembers stores copies. */
class NoLinkCache extends Map<`${number}:${number}`, string> {
  override get(): undefined {
    return undefined;
  }
}

// node-tar reads each file in chunks of at most this size, so memory stays small with a slow consumer.
const READ_CHUNK = 256 * 1024;

/**
 * Streams a tar of exactly the listed entries (no directory recursion: the walk already chose them).
 * Modes, mtimes, symlinks and hard links are kept; reading stops when the consumer stops pulling.
 */
export function packTree(options: PackTreeOptions): Readable {
  const pack = new Pack({
    cwd: options.baseDir,
    noDirRecurse: true,
    follow: options.followSymlinks,
    // A file changing size while read, or an unreadable entry, must fail the backup, not drop a file.
    strict: true,
    maxReadSize: READ_CHUNK,
    ...(options.hardLinks ? {} : { linkCache: new NoLinkCache() }),
  });
  const output = new Readable({
    read() {
      pack.resume();
    },
    destroy(error, callback) {
      pack.destroy();
      callback(error);
    },
  });
  pack.on('data', (chunk: Buffer) => {
    if (!output.push(chunk)) pack.pause();
  });
  pack.on('end', () => output.push(null));
  pack.on('error', (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    output.destroy(
      new NexusError('IO', `could not read ${options.baseDir} for the backup: ${message}`, {
        provider: options.provider,
        cause: error,
      }),
    );
  });
  pack.pause();

  const onAbort = () => output.destroy(options.signal.reason ?? new Error('aborted'));
  if (options.signal.aborted) onAbort();
  else {
    options.signal.addEventListener('abort', onAbort, { once: true });
    output.once('close', () => options.signal.removeEventListener('abort', onAbort));
  }

  for (const entry of options.entries) pack.add(entry.path);
  pack.end();
  return output;
}
