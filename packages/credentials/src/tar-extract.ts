import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NexusError } from '@nexus-backup/core';
import type { ReadEntry } from 'tar';
import { Unpack } from 'tar';

export interface ExtractedEntry {
  kind: 'file' | 'directory' | 'symlink' | 'hardlink';
  mode: number;
  mtime: Date | undefined;
}

export interface ExtractOptions {
  /** A fresh, empty directory the archive is unpacked into. */
  dir: string;
  /** Credentials archives hold plain files and folders only. */
  allowLinks: boolean;
  provider: string;
  signal: AbortSignal;
}

/**
 * Unpacks a tar stream into `dir`, refusing (not skipping) anything unsafe: absolute paths, `..`,
 * links leading out of `dir`, devices and other special files. Resolves with every entry's path, kind,
 * mode and mtime once the whole stream has ended; rejects on the first problem or a stream error.
 */
export async function extractTar(
  stream: Readable,
  options: ExtractOptions,
): Promise<Map<string, ExtractedEntry>> {
  const entries = new Map<string, ExtractedEntry>();
  const unpack: Unpack = new Unpack({
    cwd: options.dir,
    // Every tar warning (bad checksum, truncated input, unsafe path) is an error: a restore never guesses.
    strict: true,
    // Files belong to whoever restores them, also when that is root.
    preserveOwner: false,
    filter: (_path, entry) => {
      const checked = checkEntry(entry as ReadEntry, options);
      if (checked instanceof NexusError) {
        unpack.abort(checked);
        return false;
      }
      if (checked === undefined) return false;
      entries.set(checked.path, checked.entry);
      return true;
    },
  });
  await pipeline(stream, unpackSink(unpack), { signal: options.signal }).catch((error: unknown) => {
    throw describeExtractError(error, options.provider);
  });
  return entries;
}

type Checked = { path: string; entry: ExtractedEntry } | NexusError | undefined;

function checkEntry(entry: ReadEntry, options: ExtractOptions): Checked {
  const raw = entry.path;
  const refuse = (why: string) =>
    new NexusError('INTEGRITY', `refusing to restore "${raw}": ${why}`, {
      provider: options.provider,
      hint: 'the backup archive was not written by nexus-backup or was tampered with',
    });
  // A backslash is an ordinary name character on POSIX; node-tar (and so this check) only treats `/` as a separator.
  if (raw.startsWith('/') || /^[a-zA-Z]:/.test(raw)) return refuse('absolute path');
  const path = posix.normalize(raw).replace(/\/+$/, '');
  if (raw.split('/').includes('..')) return refuse('path contains ".."');
  // The archive root itself carries nothing we keep: the target's own mode is the restore's choice.
  if (path === '.' || path === '') return undefined;
  const mode = (entry.mode ?? 0o600) & 0o7777;
  switch (entry.type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return { path, entry: { kind: 'file', mode, mtime: entry.mtime } };
    case 'Directory':
      return { path, entry: { kind: 'directory', mode, mtime: entry.mtime } };
    case 'SymbolicLink':
    case 'Link': {
      if (!options.allowLinks) return refuse('links are not allowed in this backup');
      const target = entry.linkpath ?? '';
      if (target.startsWith('/')) return refuse(`link to absolute path "${target}"`);
      // Symlink targets are relative to the link's folder, hard link targets to the archive root.
      const base = entry.type === 'SymbolicLink' ? posix.dirname(path) : '.';
      const resolved = posix.normalize(posix.join(base, target));
      if (resolved === '..' || resolved.startsWith('../'))
        return refuse(`link leads outside the target ("${target}")`);
      const kind = entry.type === 'SymbolicLink' ? 'symlink' : 'hardlink';
      return { path, entry: { kind, mode, mtime: entry.mtime } };
    }
    default:
      return refuse(`unsupported entry type ${entry.type}`);
  }
}

/** A Node Writable in front of node-tar's Minipass-based Unpack, so `pipeline` handles errors and aborts. */
function unpackSink(unpack: Unpack): Writable {
  let finalCallback: ((error?: Error | null) => void) | undefined;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (unpack.write(chunk)) callback();
      else unpack.once('drain', () => callback());
    },
    final(callback) {
      finalCallback = callback;
      unpack.end();
    },
    destroy(error, callback) {
      unpack.removeAllListeners('drain');
      callback(error);
    },
  });
  unpack.on('close', () => finalCallback?.());
  unpack.on('error', (error: Error) => {
    if (finalCallback) finalCallback(error);
    else sink.destroy(error);
  });
  return sink;
}

function describeExtractError(error: unknown, provider: string): NexusError | unknown {
  if (error instanceof NexusError) return error;
  const { code, tarCode } = error as { code?: string; tarCode?: string };
  // A file system error (ENOSPC, EACCES) reaches us as a tar entry error; it says nothing about the
  // archive, so it goes up as it is and the restore names the target.
  if (code && /^E[A-Z]+$/.test(code)) return error;
  if (tarCode && tarCode !== 'TAR_ABORT') {
    return new NexusError(
      'INTEGRITY',
      `the backup archive is damaged or unsafe: ${(error as Error).message}`,
      {
        provider,
        cause: error,
      },
    );
  }
  return error;
}
