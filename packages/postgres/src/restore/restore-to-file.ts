import { randomBytes } from 'node:crypto';
import { link, lstat, open, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isNexusError, NexusError, type RunContext } from '@nexus-backup/core';
import { partialName, removeDeadPartials } from './partial-files.js';
import { countCopy, emptyTally, type ScriptTally } from './run-script.js';
import { readSqlScript } from './sql-script-reader.js';

/**
 * Writes the script to `path` as it streams, reading it along the way so a dump cut short is refused;
 * the file appears under its name (mode 0600) only when complete, and an existing file is never replaced.
 */
export async function restoreToFile(
  input: AsyncIterable<Buffer>,
  path: string,
  ctx: RunContext,
): Promise<{ bytes: number; tally: ScriptTally; path: string }> {
  const target = resolve(path);
  for (const removed of await removeDeadPartials(target))
    ctx.log.info(`[postgres] removed ${removed}, left by a killed restore`);
  if (await exists(target)) {
    throw new NexusError('TARGET', `${target} already exists; a restore never replaces a file`, {
      provider: 'postgres',
      hint: 'choose another path for --to-file, or remove the file first',
    });
  }
  const temp = partialName(target, randomBytes(6).toString('hex'));
  const handle = await open(temp, 'wx', 0o600).catch((error: unknown) => {
    throw cannotWriteNextTo(target, error);
  });
  let bytes = 0;
  const tally = emptyTally();
  let linked = false;
  try {
    async function* written(): AsyncGenerator<Buffer> {
      for await (const chunk of input) {
        await handle.write(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    }
    for await (const event of readSqlScript(written())) {
      ctx.signal.throwIfAborted();
      if (event.kind === 'copy') {
        for await (const _ of event.data);
        countCopy(tally, event);
      }
      if (event.kind !== 'meta') tally.statements++;
    }
    await handle.sync();
    await handle.close();
    // link() fails when the name was taken meanwhile, where rename() would silently replace it.
    await link(temp, target).catch((error: unknown) => {
      throw new NexusError('TARGET', `${target} appeared while restoring; it was left untouched`, {
        provider: 'postgres',
        cause: error,
      });
    });
    linked = true;
    await syncDirectory(dirname(target));
  } catch (error) {
    throw fileRestoreError(error, target, ctx);
  } finally {
    await handle.close().catch(() => {});
    await unlink(temp).catch(() => {});
    if (!linked) ctx.log.debug(`removed the partial file ${temp}`);
  }
  return { bytes, tally, path: target };
}

function fileRestoreError(error: unknown, target: string, ctx: RunContext): NexusError {
  if (isNexusError(error)) return error;
  if (ctx.signal.aborted) {
    return new NexusError('ABORTED', `writing ${target} was aborted; no file was left`, {
      provider: 'postgres',
      cause: error,
    });
  }
  if ((error as NodeJS.ErrnoException).code === 'ENOSPC') {
    return new NexusError(
      'IO',
      `no space left on ${dirname(target)} while writing ${target}; no file was left`,
      {
        provider: 'postgres',
        cause: error,
        hint: 'free space there, or write the file somewhere else',
      },
    );
  }
  return new NexusError('IO', `writing ${target} failed: ${(error as Error).message}; no file was left`, {
    provider: 'postgres',
    cause: error,
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Names the folder and what to do about it; the temp name it tried means nothing to the operator. */
function cannotWriteNextTo(target: string, error: unknown): NexusError {
  const code = (error as NodeJS.ErrnoException).code;
  const folder = dirname(target);
  const refused = (problem: string, hint: string) =>
    new NexusError('TARGET', `cannot write ${target}: ${problem}`, {
      provider: 'postgres',
      cause: error,
      hint,
    });
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return refused(
      `the folder ${folder} does not exist`,
      `create it first (mkdir -p ${folder}), or give --to-file a path in an existing folder`,
    );
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return refused(
      `the folder ${folder} is not writable (${code})`,
      'give --to-file a path in a folder this user can write to',
    );
  }
  return refused((error as Error).message, 'check the --to-file path');
}
