import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import { type Logger, NexusError } from '@nexus-backup/core';
import type { HeaderData } from 'tar';
import { Header, Pax } from 'tar';
import type { TreeEntry } from './tree-entry.js';

export interface PackTreeOptions {
  baseDir: string;
  entries: TreeEntry[];
  /** false: hard-linked files are stored as separate files (credentials restore accepts no links). */
  hardLinks: boolean;
  provider: string;
  signal: AbortSignal;
  /** Where a file that changed while it was read is reported (the backup then exits 1, as tar does). */
  log?: Logger;
}

const BLOCK = 512;
// File contents are read in chunks of at most this size, so memory stays small with a slow consumer.
const READ_CHUNK = 256 * 1024;
// A tar ends with two zero blocks.
const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/**
 * Streams a tar of exactly the listed entries, in order. Headers and pax extensions (long or non-ASCII
 * names, big values) are node-tar's `Header` and `Pax`; contents are read with `fs.createReadStream`,
 * pulled only as fast as the consumer reads, and closed properly when the stream is destroyed or
 * aborted. Headers come from the walk's stats, so a followed symlink is stored as what it points to.
 */
export function packTree(options: PackTreeOptions): Readable {
  return addAbortSignal(options.signal, Readable.from(archive(options), { objectMode: false }));
}

async function* archive(options: PackTreeOptions): AsyncGenerator<Buffer> {
  // First path stored for each inode with several links, so later ones become hard-link entries.
  const firstLinkPath = new Map<string, string>();
  for (const entry of options.entries) {
    const { stats } = entry;
    const absolute = join(options.baseDir, entry.path);
    const base: HeaderData = {
      mode: stats.mode & 0o7777,
      uid: stats.uid,
      gid: stats.gid,
      mtime: stats.mtime,
      size: 0,
    };
    if (entry.kind === 'directory') {
      yield* headerBlocks({ ...base, path: `${entry.path}/`, type: 'Directory' });
      continue;
    }
    if (entry.kind === 'symlink') {
      yield* headerBlocks({
        ...base,
        path: entry.path,
        type: 'SymbolicLink',
        linkpath: await readlink(absolute),
      });
      continue;
    }
    if (stats.nlink > 1 && options.hardLinks) {
      const inode = `${stats.dev}:${stats.ino}`;
      const linkpath = firstLinkPath.get(inode);
      if (linkpath !== undefined) {
        yield* headerBlocks({ ...base, path: entry.path, type: 'Link', linkpath });
        continue;
      }
      firstLinkPath.set(inode, entry.path);
    }
    yield* headerBlocks({ ...base, path: entry.path, type: 'File', size: stats.size });
    yield* fileBlocks(absolute, entry, options);
  }
  yield END_OF_ARCHIVE;
}

function* headerBlocks(data: HeaderData): Generator<Buffer> {
  const header = new Header(data);
  // encode() reports whether a field did not fit the ustar header; a pax header then carries it.
  if (header.encode()) yield new Pax({ ...data, size: data.size }).encode();
  yield header.block!;
}

/** The file's bytes as the walk saw its size, zero-padded to whole blocks. */
async function* fileBlocks(
  absolute: string,
  entry: TreeEntry,
  options: PackTreeOptions,
): AsyncGenerator<Buffer> {
  const size = entry.stats.size;
  let read = 0;
  // True while the consumer holds a chunk: a throw arriving then is the stream being destroyed or
  // aborted, passed on as is; anything else is a read error.
  let atYield = false;
  if (size > 0) {
    const file = createReadStream(absolute, { end: size - 1, highWaterMark: READ_CHUNK });
    try {
      for await (const chunk of file) {
        read += (chunk as Buffer).length;
        atYield = true;
        yield chunk as Buffer;
        atYield = false;
      }
    } catch (error) {
      if (atYield) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new NexusError('IO', `could not read ${entry.path} in ${options.baseDir}: ${message}`, {
        provider: options.provider,
        cause: error,
      });
    } finally {
      // Only finish (and let the archive stream close) once the file is closed: no fd outlives a destroy.
      file.destroy();
      if (!file.closed) await once(file, 'close');
    }
  }
  if (read === size && options.log) {
    // A file that grew or was rewritten is stored as its first `size` bytes: say so, as tar does.
    const after = await stat(absolute).catch(() => undefined);
    if (after && (after.size !== size || after.mtimeMs !== entry.stats.mtimeMs)) {
      options.log.warn(
        `[${options.provider}] ${entry.path} in ${options.baseDir} changed while it was read; the backup holds ${size} bytes of it that may mix old and new; run the backup again when it is not being written`,
      );
    }
  }
  if (read !== size) {
    throw new NexusError(
      'IO',
      `${entry.path} in ${options.baseDir} shrank while it was read (${read} of ${size} bytes)`,
      {
        provider: options.provider,
        hint: 'run the backup again when the file is not being written',
      },
    );
  }
  const padding = (BLOCK - (size % BLOCK)) % BLOCK;
  if (padding > 0) yield Buffer.alloc(padding);
}
