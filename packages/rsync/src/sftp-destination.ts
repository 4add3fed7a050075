import { posix } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import {
  type Destination,
  NexusError,
  type RunContext,
  type StoredObject,
  toNexusError,
} from '@nexus-backup/core';
import type { FileEntryWithStats } from 'ssh2';
import { ConnectionHeadStart, connectionKey } from './connection-head-start.js';
import { checkKey, TEMP_NAME, tempPathFor } from './object-keys.js';
import { rememberEndpoint } from './sftp-endpoints.js';
import { describeLocation, type SftpOptions } from './sftp-options.js';
import { connectSession, type SftpSession } from './sftp-session.js';
import { readRemoteFile, writeRemoteFile } from './sftp-transfer.js';

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that we branch on. */
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;

/** Folders listed at once while walking a repository. */
const LIST_CONCURRENCY = 8;

export function createSftpDestination(options: SftpOptions): Destination {
  const location = describeLocation(options);
  const base = options.path.replace(/\/+$/, '') || '/';
  const requests = Math.max(1, Math.floor(options.requests));
  const knownDirs = new Set<string>();
  const headStart = new ConnectionHeadStart(
    connectionKey(options),
    (signal) => connectSession(options, location, signal),
    (session) => session.end(),
    options.retries,
  );
  headStart.begin();
  let current: Promise<SftpSession> | undefined;

  /** The live session, or a new one: a connection that ended is never reused. */
  async function session(ctx: RunContext): Promise<SftpSession> {
    if (current) {
      const existing = await current.catch(() => undefined);
      if (existing?.alive) return existing;
    }
    knownDirs.clear();
    const opening = headStart.open(ctx);
    current = opening;
    opening.catch(() => {
      if (current === opening) current = undefined;
    });
    return opening;
  }

  const remotePath = (key: string) => posix.join(base, checkKey(key));

  const fail = (error: unknown, action: string, key: string): NexusError => {
    if (error instanceof NexusError) return error;
    const code = (error as { code?: unknown }).code;
    const detail = (error as Error).message ?? String(error);
    if (code === NO_SUCH_FILE) {
      return new NexusError('NOT_FOUND', `no object ${key} in ${location}`, {
        provider: 'sftp',
        cause: error,
      });
    }
    if (code === PERMISSION_DENIED) {
      return new NexusError('IO', `permission denied to ${action} ${key} in ${location}`, {
        provider: 'sftp',
        hint: `check that the login user owns ${base} on the server`,
        cause: error,
      });
    }
    return new NexusError('IO', `could not ${action} ${key} in ${location}: ${detail}`, {
      provider: 'sftp',
      cause: error,
    });
  };

  async function mkdirs(s: SftpSession, dir: string): Promise<void> {
    if (knownDirs.has(dir) || dir === '/' || dir === '.') return;
    const stats = await s
      .request<{ isDirectory(): boolean }>((cb) => s.sftp.stat(dir, cb))
      .catch(() => undefined);
    if (!stats) {
      await mkdirs(s, posix.dirname(dir));
      try {
        await s.request<void>((cb) => s.sftp.mkdir(dir, { mode: 0o700 }, (error) => cb(error)));
      } catch (error) {
        // several puts create the same folder at once: losing that race is fine
        const now = await s
          .request<{ isDirectory(): boolean }>((cb) => s.sftp.stat(dir, cb))
          .catch(() => undefined);
        if (!now?.isDirectory()) throw error;
      }
    } else if (!stats.isDirectory()) {
      throw new NexusError('IO', `${dir} on ${options.host} exists and is not a folder`, {
        provider: 'sftp',
      });
    }
    knownDirs.add(dir);
  }

  async function renameIntoPlace(s: SftpSession, from: string, to: string): Promise<void> {
    if (s.hasExtension('posix-rename@openssh.com')) {
      await s.request<void>((cb) => s.sftp.ext_openssh_rename(from, to, (error) => cb(error)));
      return;
    }
    // Plain SFTP rename refuses an existing target; without the extension an overwrite cannot be atomic.
    await s.request<void>((cb) => s.sftp.unlink(to, (error) => cb(error))).catch(() => {});
    await s.request<void>((cb) => s.sftp.rename(from, to, (error) => cb(error)));
  }

  async function unlink(s: SftpSession, path: string): Promise<void> {
    try {
      await s.request<void>((cb) => s.sftp.unlink(path, (error) => cb(error)));
    } catch (error) {
      if ((error as { code?: unknown }).code !== NO_SUCH_FILE) throw error;
    }
  }

  async function readdir(s: SftpSession, dir: string): Promise<FileEntryWithStats[]> {
    try {
      return await s.request<FileEntryWithStats[]>((cb) => s.sftp.readdir(dir, cb));
    } catch (error) {
      if ((error as { code?: unknown }).code === NO_SUCH_FILE) return [];
      throw error;
    }
  }

  /**
   * Regular files under `dirKey` ('' or ending in '/'), sorted by key, in folders `descend` accepts.
   * Folders of one level are read concurrently: a repository has a folder per backup, and one round
   * trip per folder in a row is slow over a WAN.
   */
  async function walk(s: SftpSession, dirKey: string, ctx: RunContext, descend: (dirKey: string) => boolean) {
    const files: { key: string; name: string; bytes: number; modified: Date }[] = [];
    let level = [dirKey];
    while (level.length > 0) {
      const next: string[] = [];
      const queue = [...level];
      const readers = Array.from({ length: Math.min(LIST_CONCURRENCY, queue.length) }, async () => {
        for (let folder = queue.shift(); folder !== undefined; folder = queue.shift()) {
          ctx.signal.throwIfAborted();
          for (const entry of await readdir(s, folder === '' ? base : posix.join(base, folder))) {
            const key = `${folder}${entry.filename}`;
            const kind = (entry.attrs.mode ?? 0) & 0o170000;
            if (kind === 0o040000 && descend(`${key}/`)) next.push(`${key}/`);
            if (kind !== 0o100000) continue;
            const modified = new Date((entry.attrs.mtime ?? 0) * 1000);
            files.push({ key, name: entry.filename, bytes: entry.attrs.size ?? 0, modified });
          }
        }
      });
      await Promise.all(readers);
      level = next;
    }
    return files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  const destination: Destination = {
    location,

    async put(key: string, body: Readable, ctx: RunContext): Promise<{ bytes: number }> {
      let target: string;
      try {
        target = remotePath(key);
      } catch (error) {
        body.destroy();
        throw error;
      }
      const dir = posix.dirname(target);
      const temp = tempPathFor(target);
      addAbortSignal(ctx.signal, body);
      let s: SftpSession | undefined;
      try {
        s = await session(ctx);
        await mkdirs(s, dir);
        let bytes: number;
        try {
          bytes = await writeRemoteFile(s, temp, body, requests);
        } catch (error) {
          // the folder may have been removed (an emptied backup folder) since we created it
          if ((error as { code?: unknown }).code !== NO_SUCH_FILE || body.readableDidRead) throw error;
          knownDirs.delete(dir);
          await mkdirs(s, dir);
          bytes = await writeRemoteFile(s, temp, body, requests);
        }
        ctx.signal.throwIfAborted();
        await renameIntoPlace(s, temp, target);
        return { bytes };
      } catch (error) {
        body.destroy();
        if (s?.alive) await unlink(s, temp).catch(() => {});
        if (ctx.signal.aborted) throw toNexusError(ctx.signal.reason ?? error, 'ABORTED', 'sftp');
        throw fail(error, 'write', key);
      }
    },

    async get(key: string, ctx: RunContext): Promise<Readable> {
      const path = remotePath(key);
      const s = await session(ctx);
      try {
        const { stream } = await readRemoteFile(s, path, requests);
        return addAbortSignal(ctx.signal, stream);
      } catch (error) {
        throw fail(error, 'read', key);
      }
    },

    async *list(prefix: string, ctx: RunContext): AsyncIterable<StoredObject> {
      const s = await session(ctx);
      const startDir = prefix.slice(0, prefix.lastIndexOf('/') + 1);
      const descend = (dirKey: string) => dirKey.startsWith(prefix) || prefix.startsWith(dirKey);
      try {
        for (const file of await walk(s, startDir, ctx, descend)) {
          if (TEMP_NAME.test(file.name) || !file.key.startsWith(prefix)) continue;
          yield { key: file.key, bytes: file.bytes, modified: file.modified };
        }
      } catch (error) {
        throw fail(error, 'list', prefix || '(everything)');
      }
    },

    async delete(keys: string[], ctx: RunContext): Promise<void> {
      if (keys.length === 0) return;
      const s = await session(ctx);
      const queue = keys.map((key) => ({ key, path: remotePath(key) }));
      const workers = Array.from({ length: Math.min(requests, queue.length) }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          ctx.signal.throwIfAborted();
          await unlink(s, next.path).catch((error: unknown) => {
            throw fail(error, 'delete', next.key);
          });
        }
      });
      await Promise.all(workers);
      // Remove folders the delete emptied (a pruned backup's folder), deepest first; a non-empty one stays.
      const dirs = new Set<string>();
      for (const key of keys) {
        for (
          let dir = posix.dirname(remotePath(key));
          dir !== base && dir.startsWith(`${base}/`);
          dir = posix.dirname(dir)
        ) {
          dirs.add(dir);
        }
      }
      for (const dir of [...dirs].sort((a, b) => b.length - a.length)) {
        const removed = await s
          .request<void>((cb) => s.sftp.rmdir(dir, (error) => cb(error)))
          .then(
            () => true,
            () => false,
          );
        if (removed) knownDirs.delete(dir);
      }
    },

    async cleanup(olderThan: Date, ctx: RunContext, dryRun: boolean): Promise<string[]> {
      const s = await session(ctx);
      const stale: string[] = [];
      for (const file of await walk(s, '', ctx, () => true)) {
        if (TEMP_NAME.test(file.name) && file.modified < olderThan) stale.push(file.key);
      }
      if (!dryRun) {
        for (const key of stale) {
          await unlink(s, posix.join(base, key)).catch((error: unknown) => {
            throw fail(error, 'delete', key);
          });
        }
      }
      return stale;
    },

    async close(): Promise<void> {
      const closing = current;
      current = undefined;
      await headStart.close();
      const existing = await closing?.catch(() => undefined);
      await existing?.end();
    },
  };
  rememberEndpoint(destination, options);
  return destination;
}
