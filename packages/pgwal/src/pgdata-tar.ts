import { once } from 'node:events';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import { NexusError } from '@nexus-backup/core';
import { Header, type HeaderData, Pax } from 'tar';

const BLOCK = 512;
const READ_CHUNK = 256 * 1024;

/** Folders whose contents PostgreSQL's docs say to leave out of a base backup (the folders stay, empty). */
const EMPTIED_FOLDERS = new Set([
  'pg_wal',
  'pg_dynshmem',
  'pg_notify',
  'pg_replslot',
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
]);
/** Top-level files that belong to the running server or to another backup. */
const SKIPPED_FILES = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'backup_label',
  'backup_label.old',
  'tablespace_map',
  'tablespace_map.old',
  'backup_manifest',
  'current_logfiles',
]);

function skipped(name: string, isTopLevel: boolean): boolean {
  if (name.startsWith('pgsql_tmp') || name === 'pg_internal.init') return true;
  return isTopLevel && SKIPPED_FILES.has(name);
}

/**
 * A tar of a live data directory, streamed as the consumer reads. The server writes while we read
 * (non-exclusive backup mode): a file that vanished is left out and a file that shrank is padded with
 * zeros to its listed size, as pg_basebackup does; WAL replay from the backup's start repairs both.
 * Tablespaces (`pg_tblspc` links) are refused: this mode backs up one data directory.
 */
export function packDataDirectory(pgdata: string, signal: AbortSignal): Readable {
  return addAbortSignal(signal, Readable.from(archive(pgdata), { objectMode: false }));
}

async function* archive(pgdata: string): AsyncGenerator<Buffer> {
  yield* walk(pgdata, '', true);
  yield Buffer.alloc(2 * BLOCK);
}

async function* walk(pgdata: string, relative: string, isTopLevel: boolean): AsyncGenerator<Buffer> {
  const names = (await readdir(join(pgdata, relative))).sort();
  for (const name of names) {
    if (skipped(name, isTopLevel)) continue;
    const path = relative ? `${relative}/${name}` : name;
    let stats: Stats;
    try {
      stats = await lstat(join(pgdata, path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // dropped while we walked
      throw error;
    }
    const base: HeaderData = {
      mode: stats.mode & 0o7777,
      uid: stats.uid,
      gid: stats.gid,
      mtime: stats.mtime,
      size: 0,
    };
    if (stats.isDirectory()) {
      yield* headerBlocks({ ...base, path: `${path}/`, type: 'Directory' });
      if (isTopLevel && EMPTIED_FOLDERS.has(name)) continue;
      if (isTopLevel && name === 'pg_tblspc' && (await readdir(join(pgdata, path))).length > 0) {
        throw new NexusError(
          'POLICY',
          'the data directory uses tablespaces, which pgbase backups do not support yet',
          {
            provider: 'pgbase',
            hint: 'use pg_basebackup for clusters with tablespaces',
          },
        );
      }
      yield* walk(pgdata, path, false);
    } else if (stats.isSymbolicLink()) {
      yield* headerBlocks({
        ...base,
        path,
        type: 'SymbolicLink',
        linkpath: await readlink(join(pgdata, path)),
      });
    } else if (stats.isFile()) {
      yield* headerBlocks({ ...base, path, type: 'File', size: stats.size });
      yield* fileBlocks(join(pgdata, path), stats.size);
    }
  }
}

function* headerBlocks(data: HeaderData): Generator<Buffer> {
  const header = new Header(data);
  if (header.encode()) yield new Pax({ ...data }).encode();
  yield header.block as Buffer;
}

async function* fileBlocks(absolute: string, size: number): AsyncGenerator<Buffer> {
  let read = 0;
  if (size > 0) {
    const file = createReadStream(absolute, { end: size - 1, highWaterMark: READ_CHUNK });
    try {
      for await (const chunk of file) {
        read += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    } finally {
      file.destroy();
      if (!file.closed) await once(file, 'close');
    }
  }
  // Shrunk or removed while read: zeros keep the archive well-formed; replay rewrites those pages.
  for (let missing = size - read; missing > 0; missing -= READ_CHUNK)
    yield Buffer.alloc(Math.min(missing, READ_CHUNK));
  const padding = (BLOCK - (size % BLOCK)) % BLOCK;
  if (padding > 0) yield Buffer.alloc(padding);
}
