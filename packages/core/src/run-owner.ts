import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Who runs a restore, written next to what it leaves behind (a staging folder's journal, a temporary
 * database's comment) so a later run can tell a dead owner's leftovers from a live run's.
 */
export interface RunOwner {
  host: string;
  pid: number;
  /** The process's start time (Linux /proc), so a reused pid is not mistaken for the owner. */
  processStart?: string;
  startedAt: string;
}

/**
 * A run on another host cannot be checked by pid (the target may be a shared file system or a database
 * server): its leftovers count as dead once they are this old.
 */
export const OTHER_HOST_STALE_MS = 24 * 60 * 60 * 1000;

export function currentRunOwner(): RunOwner {
  return {
    host: hostname(),
    pid: process.pid,
    processStart: processStartTime(process.pid),
    startedAt: new Date().toISOString(),
  };
}

/** Provably gone: on this host with its pid gone (or reused), or on another host and older than the bound. */
export function isRunOwnerDead(owner: RunOwner, now = Date.now()): boolean {
  if (owner.host !== hostname()) return now - Date.parse(owner.startedAt) > OTHER_HOST_STALE_MS;
  if (!isPidAlive(owner.pid)) return true;
  const start = processStartTime(owner.pid);
  return owner.processStart !== undefined && start !== undefined && start !== owner.processStart;
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
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; the fields after the last ')' are plain.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
