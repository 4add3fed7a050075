import { lstat, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { NexusError } from '@nexus-backup/core';
import type { StagingJournal } from './staging-journal.js';
import { JOURNAL_FILE, OLD_DIR, syncDirectory, TREE_DIR, writeJournal } from './staging-journal.js';

/**
 * Puts the complete tree `<staging>/tree` in place of `target` with two renames of whole folders:
 * target -> `<staging>/old`, tree -> target. The journal says `switching` before the first rename,
 * so a run killed between the two is finished by the next one (see settleDeadStaging). A failure
 * here (not a kill) puts the old target back before rethrowing.
 */
export async function switchIntoPlace(
  staging: string,
  target: string,
  journal: StagingJournal,
): Promise<void> {
  const hadTarget = (await exists(target)) !== undefined;
  await writeJournal(staging, { ...journal, phase: 'switching', hadTarget });
  const old = join(staging, OLD_DIR);
  if (hadTarget) await rename(target, old);
  try {
    await rename(join(staging, TREE_DIR), target);
  } catch (error) {
    if (hadTarget) await rename(old, target);
    throw error;
  }
  await syncDirectory(dirname(target));
  await writeJournal(staging, { ...journal, phase: 'switched', hadTarget });
}

export type SettleOutcome = 'rolled back' | 'finished';

/**
 * Brings a dead run's staging folder to an end, judging from the folders that exist:
 * - a switch that moved nothing yet (or a run still staging) is rolled back: the staging folder goes,
 *   the target is as it was;
 * - a switch that moved the target aside is finished: the new tree goes into place, then the old goes.
 * Refuses (changing nothing) when the target was recreated by someone else in the middle of a switch.
 */
export async function settleDeadStaging(
  staging: string,
  target: string,
  journal: StagingJournal,
  provider: string,
): Promise<SettleOutcome> {
  const tree = join(staging, TREE_DIR);
  const old = join(staging, OLD_DIR);
  const [hasTree, hasOld, hasTarget] = await Promise.all([exists(tree), exists(old), exists(target)]);
  let outcome: SettleOutcome = 'rolled back';
  if (journal.inPlace && journal.phase === 'switching') {
    const parked = await readdir(join(staging, 'replaced')).catch(() => [] as string[]);
    if (parked.length > 0) {
      throw new NexusError(
        'TARGET',
        `a restore into ${target} was killed while moving files one by one (the target is a mount point or its parent is read-only); ${parked.length} file(s) it replaced are in ${join(staging, 'replaced')}`,
        { provider, hint: `put back what you need from there, then remove ${staging}` },
      );
    }
  } else if (!journal.inPlace && journal.phase !== 'staging') {
    if (hasOld && hasTarget && hasTree) {
      throw new NexusError(
        'TARGET',
        `a killed restore into ${target} was half-way through its switch, and ${target} was created again since; nothing was changed`,
        {
          provider,
          hint: `the previous content is in ${old} and the restored one in ${tree}: keep what you need, then remove ${staging}`,
        },
      );
    }
    if (hasOld && !hasTarget) {
      // Moved aside, not yet replaced: finish with the complete new tree, or undo when it is gone.
      await rename(hasTree ? tree : old, target);
      await syncDirectory(dirname(target));
      outcome = hasTree ? 'finished' : 'rolled back';
    } else if (!hasTree && hasTarget) {
      outcome = 'finished';
    }
  }
  await removeStaging(staging);
  return outcome;
}

/**
 * Removes a staging folder with its journal last, so a run killed while removing it leaves a folder
 * the next run still recognises as ours.
 */
export async function removeStaging(staging: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(staging);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  for (const name of names) {
    // Retries: after a failed extraction node-tar may still finish a few file writes it had started.
    if (name !== JOURNAL_FILE)
      await rm(join(staging, name), { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
  await rm(join(staging, JOURNAL_FILE), { force: true });
  await rmdir(staging).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

async function exists(path: string) {
  return lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
}
