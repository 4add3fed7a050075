import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { currentRunOwner, type RunOwner } from '@nexus-backup/core';

/**
 * The journal a restore keeps in its staging folder: who owns the folder (host, pid, process start)
 * and how far the switch into the target got, so the next run can finish or roll back a killed one.
 */
export interface StagingJournal extends RunOwner {
  tool: 'nexus-backup';
  version: 1;
  /** `staging`: the tree is being built; `switching`: renames in progress; `switched`: only cleanup is left. */
  phase: 'staging' | 'switching' | 'switched';
  target: string;
  /** Whether the target existed when the switch began (it is then renamed aside to `old/`). */
  hadTarget: boolean;
  /** Staged inside the target (a mount point): files move one by one, replaced ones parked in `replaced/`. */
  inPlace?: boolean;
}

export const JOURNAL_FILE = 'journal.json';
/** The new tree, complete and checked once the phase is `switching`. */
export const TREE_DIR = 'tree';
/** Where the previous target waits during a switch; removed once the new tree is in place. */
export const OLD_DIR = 'old';

export function newJournal(target: string): StagingJournal {
  return {
    tool: 'nexus-backup',
    version: 1,
    phase: 'staging',
    target,
    hadTarget: false,
    ...currentRunOwner(),
  };
}

/** Replaces the journal atomically (temp file, fsync, rename, fsync of the folder). */
export async function writeJournal(staging: string, journal: StagingJournal): Promise<void> {
  const temp = join(staging, `${JOURNAL_FILE}.tmp`);
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(journal, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, join(staging, JOURNAL_FILE));
  await syncDirectory(staging);
}

/** The journal, or undefined when it is missing or unreadable (a run killed before writing it). */
export async function readJournal(staging: string): Promise<StagingJournal | undefined> {
  try {
    const parsed = JSON.parse(await readFile(join(staging, JOURNAL_FILE), 'utf8')) as StagingJournal;
    return parsed.tool === 'nexus-backup' && typeof parsed.pid === 'number' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** fsync of a folder, so renames and unlinks inside it survive a crash of the machine. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
