import { readFileSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * The journal a restore keeps in its staging folder: who owns the folder (host, pid, process start)
 * and how far the switch into the target got, so the next run can finish or roll back a killed one.
 */
export interface StagingJournal {
  tool: 'nexus-backup';
  version: 1;
  /** `staging`: the tree is being built; `switching`: renames in progress; `switched`: only cleanup is left. */
  phase: 'staging' | 'switching' | 'switched';
  target: string;
  /** Whether the target existed when the switch began (it is then renamed aside to `old/`). */
  hadTarget: boolean;
  host: string;
  pid: number;
  /** The owning process's start time (Linux /proc), so a reused pid is not mistaken for the owner. */
  processStart?: string;
  startedAt: string;
}

export const JOURNAL_FILE = 'journal.json';
/** The new tree, complete and checked once the phase is `switching`. */
export const TREE_DIR = 'tree';
/** Where the previous target waits during a switch; removed once the new tree is in place. */
export const OLD_DIR = 'old';

/**
 * A run on another host cannot be checked by pid (the target may sit on a shared file system): its
 * staging folder counts as dead once its journal is this old. A restore of config files takes minutes.
 */
export const OTHER_HOST_STALE_MS = 24 * 60 * 60 * 1000;

export function newJournal(target: string): StagingJournal {
  return {
    tool: 'nexus-backup',
    version: 1,
    phase: 'staging',
    target,
    hadTarget: false,
    host: hostname(),
    pid: process.pid,
    processStart: processStartTime(process.pid),
    startedAt: new Date().toISOString(),
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

/** Whether the run owning a journal is provably gone: same host and pid gone (or reused), or stale. */
export function isOwnerDead(journal: StagingJournal, now = Date.now()): boolean {
  if (journal.host !== hostname()) {
    return now - Date.parse(journal.startedAt) > OTHER_HOST_STALE_MS;
  }
  if (journal.pid === process.pid) return journal.processStart !== processStartTime(process.pid);
  if (!isPidAlive(journal.pid)) return true;
  const start = processStartTime(journal.pid);
  return journal.processStart !== undefined && start !== undefined && start !== journal.processStart;
}

function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot); undefined off Linux. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; fields after the last ')' are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
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
