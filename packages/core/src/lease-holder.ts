import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/** Who holds a lease, precisely enough to tell at once whether it still runs when read on the same machine. */
export interface HolderIdentity {
  host: string;
  pid: number;
  /**
   * Linux: boot id and pid namespace. Only a reader with the same value may judge `pid` (containers
   * share host names but not pids; a reboot reuses pids).
   */
  machine?: string;
  /** Linux: the process start time in clock ticks since boot, so a reused pid is not taken for the holder. */
  processStart?: number;
}

let cached: HolderIdentity | undefined;

export function currentHolder(): HolderIdentity {
  if (cached) return cached;
  const identity: HolderIdentity = { host: hostname(), pid: process.pid };
  const machine = machineIdentity();
  const processStart = processStartTicks(process.pid);
  if (machine !== undefined) identity.machine = machine;
  if (processStart !== undefined) identity.processStart = processStart;
  cached = identity;
  return identity;
}

/** True while the process runs (a zombie or a new process under the same pid is not the holder). */
export function isHolderAlive(holder: HolderIdentity): boolean {
  if (holder.pid === process.pid) return true;
  const stat = readProcStat(holder.pid);
  if (stat) {
    if (stat.state === 'Z' || stat.state === 'X') return false;
    return holder.processStart === undefined || stat.startTicks === holder.processStart;
  }
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function machineIdentity(): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pidNamespace = readlinkSync('/proc/self/ns/pid');
    return `${boot}/${pidNamespace}`;
  } catch {
    return undefined;
  }
}

function processStartTicks(pid: number): number | undefined {
  return readProcStat(pid)?.startTicks;
}

/** `/proc/<pid>/stat`: the command may hold spaces and parentheses, so fields count from the last `)`. */
function readProcStat(pid: number): { state: string; startTicks: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Field 3 (state) is fields[0]; field 22 (starttime) is fields[19].
  const startTicks = Number(fields[19]);
  return { state: fields[0] ?? '', startTicks };
}
