import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NexusError, type RunContext } from '@nexus-backup/core';
import { parseWalFileName, requireWalFileName } from './wal-names.js';

/**
 * Async archiving: `wal push --spool DIR` only copies the WAL file into a local spool folder, durable
 * (temp name, fsync, rename, fsync of the folder) before it returns, and `wal daemon --spool DIR`
 * pushes spooled files through the pipeline in one long-running process, so neither the transforms
 * nor the upload nor a process start per segment sit on PostgreSQL's archiving path.
 */
export async function spoolWalFile(path: string, spool: string): Promise<'spooled' | 'already spooled'> {
  const name = basename(path);
  requireWalFileName(name);
  await mkdir(spool, { recursive: true, mode: 0o700 });
  const target = join(spool, name);
  const existing = await readFile(target).catch(() => undefined);
  if (existing) {
    if (existing.equals(await readFile(path))) return 'already spooled';
    throw new NexusError(
      'INTEGRITY',
      `${name} is already spooled in ${spool} with different content; refusing to overwrite it`,
      {
        provider: 'pgwal',
      },
    );
  }
  const temp = join(spool, `.${name}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await copyFile(path, temp);
    await fsync(temp);
    await rename(temp, target);
    await fsync(spool);
  } catch (error) {
    await rm(temp, { force: true });
    throw new NexusError('IO', `could not spool ${name} into ${spool}: ${(error as Error).message}`, {
      provider: 'pgwal',
      cause: error,
    });
  }
  return 'spooled';
}

async function fsync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Spooled WAL files, oldest first (.history files first: a timeline's history precedes its segments). */
export async function spooledFiles(spool: string): Promise<string[]> {
  const names = (await readdir(spool).catch(() => [] as string[])).filter((name) => parseWalFileName(name));
  const history = (name: string) => (name.endsWith('.history') ? 0 : 1);
  return names.sort((a, b) => history(a) - history(b) || a.localeCompare(b));
}

/**
 * Pushes every spooled file, removing each only after its push succeeded; with `once` it returns when
 * the spool is empty, otherwise it polls until the signal aborts (SIGTERM). A failing push is retried
 * on the next round, as PostgreSQL retries archive_command.
 */
export async function drainSpool(
  spool: string,
  push: (path: string) => Promise<void>,
  ctx: RunContext,
  options: { once: boolean; intervalMs: number },
): Promise<number> {
  let pushed = 0;
  while (!ctx.signal.aborted) {
    let failed = false;
    for (const name of await spooledFiles(spool)) {
      if (ctx.signal.aborted) break;
      try {
        await push(join(spool, name));
        await unlink(join(spool, name));
        pushed += 1;
      } catch (error) {
        failed = true;
        ctx.log.warn(`could not archive spooled ${name}: ${(error as Error).message}; retrying later`);
        break; // keep WAL order: later files wait for this one
      }
    }
    if (options.once) {
      if (failed)
        throw new NexusError('IO', `the spool ${spool} could not be drained`, { provider: 'pgwal' });
      return pushed;
    }
    await sleep(options.intervalMs, undefined, { signal: ctx.signal }).catch(() => undefined);
  }
  return pushed;
}
