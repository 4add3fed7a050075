import { lstat, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '@nexus-backup/core';
import { isRunOwnerDead, NexusError } from '@nexus-backup/core';
import { readJournal } from './staging-journal.js';
import { removeStaging, settleDeadStaging } from './target-switch.js';

/** `.<target name>.nexus-restore-XXXXXX` next to the target; `.nexus-restore-XXXXXX` inside it as a fallback. */
export const STAGING_MARK = '.nexus-restore-';

/** `.nexus-restore-` followed by mkdtemp's six characters. */
export function isStagingName(name: string, prefix = STAGING_MARK): boolean {
  return name.startsWith(prefix) && /^[A-Za-z0-9]{6}$/.test(name.slice(prefix.length));
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
 * A staging folder without a journal: removed once older than the grace period, unless it holds a
 * non-empty `replaced/` (the layout of versions before journals, which parked originals there).
 */
async function removeUnjournaled(staging: string, now: number): Promise<string | undefined> {
  const stats = await lstat(staging);
  if (now - stats.mtimeMs < NO_JOURNAL_GRACE_MS) return undefined;
  const parked = await readdir(join(staging, 'replaced')).catch(() => [] as string[]);
  if (parked.length > 0) {
    throw new NexusError(
      'TARGET',
      `${staging} holds ${parked.length} file(s) an older version of nexus-backup moved out of the target and did not put back`,
      { hint: `move what you need from ${join(staging, 'replaced')} back by hand, then remove ${staging}` },
    );
  }
  await removeStaging(staging);
  return `removed the staging folder ${staging} of a killed restore (no journal, last changed ${stats.mtime.toISOString()})`;
}
