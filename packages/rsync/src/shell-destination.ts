import { posix } from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type Destination,
  NexusError,
  type RunContext,
  type StoredObject,
  toNexusError,
} from '@nexus-backup/core';
import { ConnectionHeadStart, connectionKey } from './connection-head-start.js';
import { checkKey, TEMP_NAME, tempPathFor } from './object-keys.js';
import { AfterMarker, exitOf, shellWord as q, type RemoteExit } from './remote-shell.js';
import { rememberEndpoint } from './sftp-endpoints.js';
import { describeLocation, type SftpOptions } from './sftp-options.js';
import { SshMaster } from './ssh-master.js';

/** `get`'s remote command prints this line before the file's bytes (and after any start-up noise). */
const DATA_FOLLOWS = 'nexus-backup-data-follows';
/** The remote exit statuses `get` uses for a missing object, and for one too large for the control shell. */
const MISSING = 3;
const LARGE = 4;
/** Objects up to this size are written and read through the control shell, without a data session. */
const SMALL_OBJECT_BYTES = 256 * 1024;
/** Bytes sent between two background syncs of an upload's temp file. */
const FLUSH_EVERY_BYTES = 32 * 1024 * 1024;
/** Paths per `rm`/`rmdir` command line: far below any server's ARG_MAX. */
const PATHS_PER_COMMAND = 200;

/**
 * The sftp destination over the system `ssh` client (`?transport=ssh`): every operation is a remote
 * POSIX shell command on one multiplexed OpenSSH connection, so OpenSSH (in its own process, with its
 * native ciphers) moves the bytes. Needs a login shell with the usual tools: `cat`, `mkdir`, `mv`,
 * `rm`, `rmdir`, `sync`, `wc`, `find` and `stat -c` (GNU coreutils or BusyBox).
 */
export function createShellDestination(options: SftpOptions): Destination {
  refuseInteractiveSecrets(options);
  const location = describeLocation(options);
  const trimmed = options.path.replace(/\/+$/, '') || '/';
  // a relative path is relative to the login folder, where commands start; `./` keeps a leading `-` a name
  const relative = posix.normalize(trimmed);
  const base = trimmed.startsWith('/') ? trimmed : relative === '.' ? '.' : `./${relative}`;
  const headStart = new ConnectionHeadStart(
    connectionKey(options),
    (signal) => SshMaster.connect(options, location, signal),
    (ssh) => ssh.close(),
    options.retries,
  );
  headStart.begin();
  let current: Promise<SshMaster> | undefined;

  /** The live connection, or a new one: a master that exited is never reused. */
  async function master(ctx: RunContext): Promise<SshMaster> {
    if (current) {
      const existing = await current.catch(() => undefined);
      if (existing?.alive) return existing;
      await existing?.close();
    }
    const opening = headStart.open(ctx);
    current = opening;
    opening.catch(() => {
      if (current === opening) current = undefined;
    });
    return opening;
  }

  const remotePath = (key: string) => {
    checkKey(key);
    if (/[\n\0]/.test(key)) {
      throw new NexusError(
        'INTERNAL',
        `invalid object key ${JSON.stringify(key)}: transport=ssh lists by lines`,
        {
          provider: 'sftp',
        },
      );
    }
    return posix.join(base, key).replace(/^(?=[^/.])/, './');
  };

  /** Runs a small command (no stdin) on the connection's control shell. */
  async function run(command: string, ctx: RunContext): Promise<RemoteExit & { stdout: string }> {
    const ssh = await master(ctx);
    ctx.signal.throwIfAborted();
    return ssh.control.run(command);
  }

  const fail = (exit: RemoteExit, action: string, key: string): NexusError => {
    if (exit.code === 255) {
      return new NexusError(
        'CONNECTION',
        `SSH connection to ${location} lost while trying to ${action} ${key}: ${exit.stderr}`,
        {
          provider: 'sftp',
          hint: 'the next operation reconnects; check the network and the server if it keeps happening',
        },
      );
    }
    if (/Permission denied/i.test(exit.stderr)) {
      return new NexusError('IO', `permission denied to ${action} ${key} in ${location}: ${exit.stderr}`, {
        provider: 'sftp',
        hint: `check that the login user owns ${options.path} on the server`,
      });
    }
    return new NexusError(
      'IO',
      `could not ${action} ${key} in ${location}: ${exit.stderr || `exit ${exit.code}`}`,
      {
        provider: 'sftp',
      },
    );
  };

  /** Regular files under `dirKey` ('' or ending in '/') with size and mtime, temp files included. */
  async function walk(dirKey: string, ctx: RunContext) {
    const dir = dirKey === '' ? base : remotePath(dirKey.replace(/\/$/, ''));
    // cd first: a repository folder that is a symlink is followed, as SFTP's readdir does
    const listed = await run(
      `[ -d ${q(dir)} ] || exit 0; cd -- ${q(dir)} || exit 1; exec find . -type f -exec stat -c '%s %Y %n' -- {} +`,
      ctx,
    );
    const files: { key: string; name: string; bytes: number; modified: Date }[] = [];
    for (const line of listed.stdout.split('\n')) {
      const match = /^(\d+) (\d+) \.\/(.*)$/.exec(line);
      if (!match?.[3]) continue; // an error message, folded into the output
      const key = `${dirKey}${match[3]}`;
      files.push({
        key,
        name: posix.basename(key),
        bytes: Number(match[1]),
        modified: new Date(Number(match[2]) * 1000),
      });
    }
    // a folder removed while find walked it (a concurrent prune) is not a failure
    const vanished = listed.stderr
      .split('\n')
      .filter((line) => line.trim() !== '' && !/^\d+ \d+ /.test(line))
      .every((line) => /No such file or directory/.test(line));
    if (listed.code !== 0 && !(listed.code === 1 && vanished))
      throw fail(listed, 'list', dirKey || '(everything)');
    return files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async function removeFiles(paths: string[], ctx: RunContext, key: string): Promise<void> {
    for (const words of inGroups(paths)) {
      const exit = await run(`rm -f -- ${words}`, ctx);
      if (exit.code !== 0) throw fail(exit, 'delete', key);
    }
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
      let ssh: SshMaster | undefined;
      try {
        ssh = await master(ctx);
        const head = await readUpTo(body, SMALL_OBJECT_BYTES);
        if (head.ended) {
          // small (a manifest, a lease): one command on the control shell, the bytes in a here-document
          const data = Buffer.concat(head.chunks);
          ctx.signal.throwIfAborted();
          const written = await ssh.control.run(
            `umask 077 && mkdir -p -- ${q(dir)} && base64 -d > ${q(temp)} <<'NEXUS_DATA' && sync -- ${q(temp)} && mv -f -- ${q(temp)} ${q(target)} && sync -- ${q(dir)} || { rm -f -- ${q(temp)}; exit 1; }\n${base64Lines(data)}NEXUS_DATA`,
          );
          if (written.code !== 0) throw fail(written, 'write', key);
          return { bytes: data.length };
        }
        // 1. the bytes into a temp name, made durable; the command prints the size it wrote
        const child = ssh.session(
          `umask 077 && mkdir -p -- ${q(dir)} && cat > ${q(temp)} && sync -- ${q(temp)} && wc -c < ${q(temp)}`,
        );
        const exit = exitOf(child);
        let stdout = '';
        child.stdout?.setEncoding('utf8');
        child.stdout?.on('data', (text: string) => {
          stdout += text;
        });
        let bytes = 0;
        // Flushing behind (as the sftp transport does): the sync before the rename finds little left.
        // Each is only an early start of that final sync, so a failed one is of no consequence.
        let flushedAt = 0;
        let flushing: Promise<unknown> | undefined;
        const control = ssh.control;
        const counted = (chunk: Buffer) => {
          bytes += chunk.length;
          if (!flushing && bytes - flushedAt >= FLUSH_EVERY_BYTES) {
            flushedAt = bytes;
            flushing = control
              .run(`sync -- ${q(temp)}`)
              .catch(() => {})
              .finally(() => {
                flushing = undefined;
              });
          }
          return chunk;
        };
        const sent = pipeline(async function* () {
          for (const chunk of head.chunks) yield counted(chunk);
          for await (const chunk of head.rest) yield counted(chunk as Buffer);
        }, child.stdin as NodeJS.WritableStream);
        const [sending, written] = await Promise.allSettled([sent, exit]);
        await flushing;
        const ended = (written as PromiseFulfilledResult<RemoteExit>).value;
        if (ended.code !== 0) throw fail(ended, 'write', key);
        if (sending.status === 'rejected') throw sending.reason;
        const remoteBytes = Number(stdout.trim().split('\n').pop());
        if (remoteBytes !== bytes) {
          throw new NexusError(
            'IO',
            `${location}/${key}: sent ${bytes} bytes, but the server wrote ${remoteBytes}`,
            {
              provider: 'sftp',
            },
          );
        }
        ctx.signal.throwIfAborted();
        // 2. only a complete, synced file is renamed into place (a killed upload never reaches this)
        const renamed = await ssh.control.run(`mv -f -- ${q(temp)} ${q(target)} && sync -- ${q(dir)}`);
        if (renamed.code !== 0) throw fail(renamed, 'write', key);
        return { bytes };
      } catch (error) {
        body.destroy();
        if (ssh?.alive) await ssh.control.run(`rm -f -- ${q(temp)}`).catch(() => {});
        if (ctx.signal.aborted) throw toNexusError(ctx.signal.reason ?? error, 'ABORTED', 'sftp');
        throw error instanceof NexusError ? error : toNexusError(error, 'IO', 'sftp');
      }
    },

    async get(key: string, ctx: RunContext): Promise<Readable> {
      const path = remotePath(key);
      const ssh = await master(ctx);
      const notFound = () =>
        new NexusError('NOT_FOUND', `no object ${key} in ${location}`, { provider: 'sftp' });
      // small (manifests, read by every scan): base64 through the control shell, no session to start
      const small = await ssh.control.run(
        `[ -f ${q(path)} ] || exit ${MISSING}; [ "$(wc -c < ${q(path)})" -le ${SMALL_OBJECT_BYTES} ] || exit ${LARGE}; exec base64 < ${q(path)}`,
      );
      ctx.signal.throwIfAborted();
      if (small.code === MISSING) throw notFound();
      if (small.code === 0)
        return addAbortSignal(ctx.signal, Readable.from([Buffer.from(small.stdout, 'base64')]));
      if (small.code !== LARGE) throw fail(small, 'read', key);
      const child = ssh.session(
        `[ -f ${q(path)} ] || exit ${MISSING}; printf '%s\\n' ${DATA_FOLLOWS}; exec cat -- ${q(path)}`,
      );
      child.stdin?.end();
      const exit = exitOf(child);
      const stream = new AfterMarker(DATA_FOLLOWS, exit, (ended) =>
        ended.code === MISSING ? notFound() : fail(ended, 'read', key),
      );
      // a reader that stops early (or an abort) ends the remote cat too
      stream.once('close', () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      });
      pipeline(child.stdout as Readable, stream).catch(() => {});
      const failedFirst = exit.then((ended) => {
        if (ended.code === MISSING) throw notFound();
        if (ended.code !== 0) throw fail(ended, 'read', key);
      });
      try {
        await Promise.race([stream.started, failedFirst]);
      } catch (error) {
        stream.destroy();
        throw error;
      }
      failedFirst.catch(() => {}); // the stream reports a later failure itself
      return addAbortSignal(ctx.signal, stream);
    },

    async *list(prefix: string, ctx: RunContext): AsyncIterable<StoredObject> {
      const startDir = prefix.slice(0, prefix.lastIndexOf('/') + 1);
      for (const file of await walk(startDir, ctx)) {
        if (TEMP_NAME.test(file.name) || !file.key.startsWith(prefix)) continue;
        yield { key: file.key, bytes: file.bytes, modified: file.modified };
      }
    },

    async delete(keys: string[], ctx: RunContext): Promise<void> {
      if (keys.length === 0) return;
      const paths = keys.map((key) => remotePath(key));
      // Remove folders the delete emptied (a pruned backup's folder), deepest first; a non-empty one stays.
      const dirs = new Set<string>();
      for (const path of paths) {
        for (
          let dir = posix.dirname(path);
          dir !== base && dir.startsWith(`${base}/`);
          dir = posix.dirname(dir)
        ) {
          dirs.add(dir);
        }
      }
      const deepestFirst = [...dirs].sort((a, b) => b.length - a.length);
      // One round trip: the files, then the folders they emptied (rmdir leaves a non-empty one alone).
      const script = [
        ...inGroups(paths).map((words) => `rm -f -- ${words} || exit 1`),
        ...inGroups(deepestFirst).map((words) => `rmdir -- ${words} 2>/dev/null`),
        'exit 0',
      ].join('\n');
      const exit = await run(script, ctx);
      if (exit.code !== 0)
        throw fail(exit, 'delete', keys.length === 1 ? (keys[0] as string) : `${keys.length} objects`);
    },

    async cleanup(olderThan: Date, ctx: RunContext, dryRun: boolean): Promise<string[]> {
      const stale = (await walk('', ctx))
        .filter((file) => TEMP_NAME.test(file.name) && file.modified < olderThan)
        .map((file) => file.key);
      if (!dryRun && stale.length > 0)
        await removeFiles(stale.map(remotePath), ctx, `${stale.length} temp files`);
      return stale;
    },

    async close(): Promise<void> {
      const closing = current;
      current = undefined;
      await headStart.close();
      const existing = await closing?.catch(() => undefined);
      await existing?.close();
    },
  };
  rememberEndpoint(destination, options);
  return destination;
}

/** Paths quoted for the remote shell, PATHS_PER_COMMAND to a command line. */
function inGroups(paths: string[]): string[] {
  const groups: string[] = [];
  for (let at = 0; at < paths.length; at += PATHS_PER_COMMAND)
    groups.push(
      paths
        .slice(at, at + PATHS_PER_COMMAND)
        .map(q)
        .join(' '),
    );
  return groups;
}

/** ssh runs with BatchMode: it could only get these secrets through a prompt or argv, never from us. */
function refuseInteractiveSecrets(options: SftpOptions): void {
  if (options.passwordEnv || options.identityPassphraseEnv || options.identityPassphraseFile) {
    throw new NexusError(
      'USAGE',
      'transport=ssh runs the system ssh non-interactively: passwords and key passphrases cannot be passed to it',
      {
        provider: 'sftp',
        hint: 'load the key into ssh-agent (ssh-add) and drop passwordEnv/identityPassphrase*, or drop transport=ssh to use the built-in SFTP client',
      },
    );
  }
}

/** Reads `body` until it ends or holds more than `limit` bytes; `rest` continues where it stopped. */
async function readUpTo(
  body: Readable,
  limit: number,
): Promise<{ chunks: Buffer[]; ended: boolean; rest: AsyncIterator<unknown> & AsyncIterable<unknown> }> {
  const iterator = body[Symbol.asyncIterator]();
  const rest = { next: () => iterator.next(), [Symbol.asyncIterator]: () => rest };
  const chunks: Buffer[] = [];
  let bytes = 0;
  while (bytes <= limit) {
    const next = await iterator.next();
    if (next.done) return { chunks, ended: true, rest };
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array);
    chunks.push(chunk);
    bytes += chunk.length;
  }
  return { chunks, ended: false, rest };
}

/** base64 in lines of 76 characters, each ending in a newline, as `base64 -d` reads them. */
function base64Lines(data: Buffer): string {
  const text = data.toString('base64');
  let lines = '';
  for (let at = 0; at < text.length; at += 76) lines += `${text.slice(at, at + 76)}\n`;
  return lines;
}
