import { lstat, mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { type Json, NexusError, type OptionValues } from '@nexus-backup/core';

/**
 * `recover` for folders. `folder` mode (the credentials source: the whole folder is the backup) swaps
 * the folder itself; `entries` mode (the files source: chosen paths inside a folder such as the
 * service's own) swaps each restored top-level entry and leaves the rest of the folder alone.
 * Nothing is deleted: old content goes to `*_before_recovery_<stamp>`.
 */
export interface PathSwap {
  mode: 'folder' | 'entries';
  live: string;
  staged: string;
  aside: string;
}

/** Entries mode writes the list of swapped names into the aside folder before it moves anything. */
const ENTRY_LIST = '.nexus-recovery-entries.json';

export function liveDir(target: OptionValues): string {
  if (typeof target.toDir !== 'string' || target.toDir === '') {
    throw new NexusError('CONFIG', 'the folder to recover into is unknown', {
      hint: 'set toDir: on the recovery.restore item',
    });
  }
  return resolve(target.toDir);
}

export function planSwap(target: OptionValues, stamp: string, mode: PathSwap['mode']): PathSwap {
  const live = liveDir(target);
  if (mode === 'entries') {
    return {
      mode,
      live,
      staged: join(live, `.nexus-recovery-${stamp}`),
      aside: join(live, `_before_recovery_${stamp}`),
    };
  }
  const parent = dirname(live);
  const name = basename(live);
  return {
    mode,
    live,
    staged: join(parent, `.${name}.recovery-${stamp}`),
    aside: join(parent, `${name}_before_recovery_${stamp}`),
  };
}

export function asSwap(json: { [key: string]: Json }): PathSwap {
  const { mode, live, staged, aside } = json;
  if (
    (mode !== 'folder' && mode !== 'entries') ||
    typeof live !== 'string' ||
    typeof staged !== 'string' ||
    typeof aside !== 'string'
  ) {
    throw new NexusError('INTEGRITY', 'the recovery journal entry of a folder is damaged');
  }
  return { mode, live, staged, aside };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A rename made durable: the folders on both sides are fsynced, so a power cut cannot undo it. */
async function durableRename(from: string, to: string): Promise<void> {
  await rename(from, to);
  await syncDir(dirname(to));
  if (dirname(from) !== dirname(to)) await syncDir(dirname(from));
}

interface Triple {
  staged: string;
  live: string;
  aside: string;
}

async function triples(swap: PathSwap, writeList: boolean): Promise<Triple[]> {
  if (swap.mode === 'folder') return [{ staged: swap.staged, live: swap.live, aside: swap.aside }];
  const listFile = join(swap.aside, ENTRY_LIST);
  let names: string[];
  if (await exists(listFile)) {
    names = JSON.parse(await readFile(listFile, 'utf8')) as string[];
  } else if (writeList) {
    names = (await exists(swap.staged)) ? await readdir(swap.staged) : [];
    await mkdir(swap.aside, { recursive: true, mode: 0o700 });
    await writeFile(listFile, JSON.stringify(names), { mode: 0o600 });
    await syncDir(swap.aside);
  } else {
    names = [];
  }
  return names.map((name) => ({
    staged: join(swap.staged, name),
    live: join(swap.live, name),
    aside: join(swap.aside, name),
  }));
}

/** live -> aside, staged -> live, one entry at a time; each step is skipped once done. */
export async function swapIn(swap: PathSwap): Promise<void> {
  if (swap.mode === 'folder' && !(await exists(swap.staged)) && (await exists(swap.live))) return;
  for (const { staged, live, aside } of await triples(swap, true)) {
    if (!(await exists(staged))) continue; // swapped already
    if (await exists(live)) {
      if (await exists(aside)) {
        throw new NexusError(
          'TARGET',
          `${live} and ${aside} both exist; move one away and run recover again`,
        );
      }
      await durableRename(live, aside);
    }
    await durableRename(staged, live);
  }
  if (swap.mode === 'entries') await rm(swap.staged, { recursive: true, force: true });
}

/** The reverse: what recovery put in place goes back to the staged name, the old content returns. */
export async function swapBack(swap: PathSwap): Promise<void> {
  for (const { staged, live, aside } of await triples(swap, false)) {
    if (!(await exists(aside))) continue; // nothing was there before, or swapped back already
    if (await exists(live)) {
      if (await exists(staged)) {
        throw new NexusError(
          'TARGET',
          `${live} and ${staged} both exist; move one away and run recover again`,
        );
      }
      await mkdir(dirname(staged), { recursive: true, mode: 0o700 });
      await durableRename(live, staged);
    }
    await durableRename(aside, live);
  }
}

export async function swapState(swap: PathSwap): Promise<'staged' | 'swapped' | 'partial'> {
  const list = await triples(swap, false);
  if (swap.mode === 'entries' && list.length === 0) return 'staged';
  const states = await Promise.all(
    list.map(async (triple) => ((await exists(triple.staged)) ? 'staged' : 'swapped')),
  );
  return states.every((state) => state === states[0]) ? (states[0] ?? 'staged') : 'partial';
}

async function removeAll(paths: string[], dryRun: boolean): Promise<string[]> {
  const found: string[] = [];
  for (const path of paths) {
    if (!(await exists(path))) continue;
    found.push(path);
    if (!dryRun) await rm(path, { recursive: true, force: true });
  }
  return found;
}

export function discard(swap: PathSwap): Promise<string[]> {
  return removeAll([swap.staged], false);
}

export function forget(swap: PathSwap, dryRun: boolean): Promise<string[]> {
  return removeAll([swap.staged, swap.aside], dryRun);
}
