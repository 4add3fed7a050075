import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { RunContext } from '@nexus-backup/core';
import { fetchWalFile, type WalFetchInput } from './wal-fetch.js';
import { parseWalFileName, segmentName, segmentNumber } from './wal-names.js';
import { readMarker, type WalMarker } from './wal-object.js';

/**
 * Where `wal fetch --prefetch N` keeps segments fetched ahead: a folder inside `%p`'s directory
 * (pg_wal), which base backups leave out and PostgreSQL ignores (it only reads WAL file names there).
 */
export const PREFETCH_FOLDER = '.nexus-prefetch';

/**
 * `wal fetch --prefetch N`: a segment fetched ahead by an earlier call is moved into place (it was
 * verified, fsynced and renamed into the prefetch folder when fetched, so it is whole). On a miss the
 * requested file is fetched as usual, and the next N segments of its timeline are fetched at the same
 * time, so one process start and one round of decoding on every core serve N+1 restore_command calls.
 * A segment the archive does not hold ends the prefetch quietly; a damaged one is left for the call
 * that asks for it, which then refuses it as `wal fetch` always does.
 */
export async function fetchWithPrefetch(
  input: WalFetchInput,
  count: number,
  ctx: RunContext,
): Promise<'prefetched' | WalMarker | undefined> {
  const folder = join(dirname(input.target), PREFETCH_FOLDER);
  const fetchedAhead = join(folder, input.name);
  try {
    await rename(fetchedAhead, input.target);
    await syncFolder(dirname(input.target));
    return 'prefetched';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const parsed = parseWalFileName(input.name);
  if (parsed?.kind !== 'segment' || count <= 0) return fetchWalFile(input, ctx);
  // Settled, not raced: a refused requested file must not leave prefetch downloads half-written.
  const [requested, ahead] = await Promise.allSettled([
    fetchWalFile(input, ctx),
    prefetchAfter(input, folder, count, ctx),
  ]);
  if (ahead.status === 'rejected') ctx.log.debug(`prefetch failed: ${(ahead.reason as Error).message}`);
  if (requested.status === 'rejected') throw requested.reason;
  return requested.value;
}

/**
 * Fetches the `count` segments after `input.name` into `folder`, two at a time, stopping at the
 * archive's end. What the folder holds besides them (ahead of another timeline, or left by a recovery
 * that stopped at its target) is removed first, so it never grows past `count` segments.
 */
async function prefetchAfter(
  input: WalFetchInput,
  folder: string,
  count: number,
  ctx: RunContext,
): Promise<void> {
  const parsed = parseWalFileName(input.name);
  // The requested file's marker gives its segment size, on which the numbering of the names depends.
  const requested = await readMarker(input.repository, input.pipeline, input.name, ctx);
  if (!parsed?.segment || !requested) return;
  const segmentBytes = requested.raw.bytes;
  const number = segmentNumber(parsed.segment, segmentBytes);
  const names = Array.from({ length: count }, (_, index) =>
    segmentName(parsed.timeline, number + 1 + index, segmentBytes),
  );
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const present = new Set<string>();
  for (const entry of await readdir(folder)) {
    if (names.includes(entry)) present.add(entry);
    else await rm(join(folder, entry), { force: true });
  }
  let next = 0;
  let ended = false;
  const worker = async () => {
    while (!ended && next < names.length) {
      const name = names[next++] as string;
      if (present.has(name)) continue; // fetched ahead earlier, and verified then
      try {
        const marker = await fetchWalFile({ ...input, name, target: join(folder, name) }, ctx);
        if (!marker) ended = true;
      } catch (error) {
        // Left for the restore_command call that asks for this file: it fetches and judges it again.
        ctx.log.debug(`prefetch of ${name} failed: ${(error as Error).message}`);
        await rm(join(folder, name), { force: true });
      }
    }
  };
  await Promise.all([worker(), worker()]);
}

async function syncFolder(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
