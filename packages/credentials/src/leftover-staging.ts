import { createHash } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '@nexus-backup/core';
import { isRunOwnerDead, NexusError } from '@nexus-backup/core';
import { readJournal } from './staging-journal.js';
import { removeStaging, settleDeadStaging } from './target-switch.js';

/**
 * `.<target name>.nexus-restore-<pid>.<host tag>-XXXXXX` next to the target; `.nexus-restore-...` inside
 * it as a fallback. Versions before the owner tag wrote `.nexus-restore-XXXXXX`.
 */
export const STAGING_MARK = '.nexus-restore-';

/**
 * Whose run made a staging folder, in its name: `<pid>.<host tag>-`. A run killed between making the
 * folder and writing its journal left a folder only the name can vouch for; with it, cleanup and the
 * next restore remove it at once when that pid is gone on this host, instead of after the grace period.
 */
export function stagingOwnerTag(): string {
  return `${process.pid}.${hostTag()}-`;
}

/** Eight hex characters of the host name's SHA-256: only ever compared with this host's. */
function hostTag(): string {
  return createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
}

const STAGING_SUFFIX = /^(?:([0-9]+)\.([0-9a-f]{8})-)?[A-Za-z0-9]{6}$/;

/** `.nexus-restore-`, an optional owner tag, then mkdtemp's six characters. */
export function isStagingName(name: string, prefix = STAGING_MARK): boolean {
  return name.startsWith(prefix) && STAGING_SUFFIX.test(name.slice(prefix.length));
}

/** The pid in a staging folder's name, when the name says it was made on this host. */
function ownerPidOnThisHost(staging: string): number | undefined {
  const name = basename(staging);
  const match = STAGING_SUFFIX.exec(name.slice(name.lastIndexOf(STAGING_MARK) + STAGING_MARK.length));
  return match?.[1] !== undefined && match[2] === hostTag() ? Number(match[1]) : undefined;
}

/**
 * A run writes its journal right after creating its staging folder; a folder still without one after
 * this long belongs to a run killed in that instant (or to a version before journals).
 */
export const NO_JOURNAL_GRACE_MS = 10 * 60 * 1000;

export interface LeftoverReport {
  /** What was done, one line each, e.g. `finished the switch of a killed restore (pid 42)`. */
  lines: string[];
  /** Staging folders of runs still alive, left alone. */
  live: string[];
}

/**
 * Finishes or rolls back every dead restore into `target` and removes its staging folder (they can hold
 * decrypted data). Only folders provably ours and dead are touched: the journal names this target and
 * its run is gone (pid not alive on this host, or older than the bound for another host).
 */
export async function settleLeftovers(
  target: string,
  options: { provider: string; log: Logger; now?: number },
): Promise<LeftoverReport> {
  const report: LeftoverReport = { lines: [], live: [] };
  for (const staging of await stagingFolders(target)) {
    const journal = await readJournal(staging);
    if (!journal) {
      const line = await removeUnjournaled(staging, options.now ?? Date.now());
      if (line) report.lines.push(line);
      else report.live.push(staging);
      continue;
    }
    if (journal.target !== target) continue;
    if (!isRunOwnerDead(journal, options.now)) {
      report.live.push(staging);
      continue;
    }
    const outcome = await settleDeadStaging(staging, target, journal, options.provider);
    const who = `pid ${journal.pid} on ${journal.host}, started ${journal.startedAt}`;
    report.lines.push(
      journal.phase === 'staging'
        ? `removed the staging folder ${staging} of a killed restore (${who})`
        : `${outcome} the switch of a killed restore into ${target} (${who})`,
    );
  }
  return report;
}

/** The same, for the start of a restore: another live restore into the same target is refused. */
export async function settleLeftoversBeforeRestore(
  target: string,
  options: { provider: string; log: Logger },
): Promise<void> {
  const { lines, live } = await settleLeftovers(target, options);
  for (const line of lines) options.log.info(`[${options.provider}] ${line}`);
  if (live.length > 0) {
    throw new NexusError('TARGET', `another restore into ${target} is running (staging folder ${live[0]})`, {
      provider: options.provider,
      hint: 'wait for it to finish; a staging folder without a journal is removed after 10 minutes',
    });
  }
}

async function stagingFolders(target: string): Promise<string[]> {
  const outside = `.${basename(target)}${STAGING_MARK}`;
  const found: string[] = [];
  for (const [folder, prefix] of [
    [dirname(target), outside],
    [target, STAGING_MARK],
  ] as const) {
    const names = await readdir(folder).catch(() => [] as string[]);
    for (const name of names) {
      if (!isStagingName(name, prefix)) continue;
      const path = join(folder, name);
      if ((await lstat(path)).isDirectory()) found.push(path);
    }
  }
  return found;
}

/**
 * A staging folder without a journal: removed once its run is gone (the pid its name gives, on this
 * host) or once older than the grace period, unless it holds a non-empty `replaced/` (the layout of
 * versions before journals, which parked originals there). A run writes its journal before anything
 * goes into the folder, so a folder whose run is gone and that has no journal holds nothing of the target.
 */
async function removeUnjournaled(staging: string, now: number): Promise<string | undefined> {
  const stats = await lstat(staging);
  const pid = ownerPidOnThisHost(staging);
  const runGone =
    pid !== undefined && isRunOwnerDead({ host: hostname(), pid, startedAt: stats.mtime.toISOString() }, now);
  if (!runGone && now - stats.mtimeMs < NO_JOURNAL_GRACE_MS) return undefined;
  const parked = await readdir(join(staging, 'replaced')).catch(() => [] as string[]);
  if (parked.length > 0) {
    throw new NexusError(
      'TARGET',
      `${staging} holds ${parked.length} file(s) an older version of nexus-backup moved out of the target and did not put back`,
      { hint: `move what you need from ${join(staging, 'replaced')} back by hand, then remove ${staging}` },
    );
  }
  await removeStaging(staging);
  const why = runGone ? `its run, pid ${pid}, is gone` : `last changed ${stats.mtime.toISOString()}`;
  return `removed the staging folder ${staging} of a killed restore (no journal, ${why})`;
}
