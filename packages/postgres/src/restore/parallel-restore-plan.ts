import { availableParallelism } from 'node:os';
import { NexusError, type RestoreArtifact } from '@nexus-backup/core';

/** Connections of a parallel restore into a new database when --jobs is not given: the cores, at most 4. */
export function defaultRestoreJobs(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

export interface ParallelRestorePlan {
  target: { db: string; createDb?: string };
  jobs: number;
}

/**
 * Whether a per-table backup (the meta of its pre-data artifact) is restored in parallel
 * (restorePerTable) or as one script on one connection (restoreSql), from the restore options:
 * - into a new database (--create-db): in parallel, --jobs or the cores (at most 4), since a failed
 *   new database is dropped; --single-transaction keeps the one-connection, one-transaction load;
 * - into an existing empty --db: in parallel only with --jobs above 1 (a failure then leaves it partly
 *   loaded), else one transaction as before;
 * - --to-file, --to-db, --table, --globals-only and data-only backups: one script.
 */
export function parallelRestorePlan(
  meta: { [key: string]: unknown },
  target: { [key: string]: unknown },
): ParallelRestorePlan | undefined {
  if (meta.layout !== 'per-table' || meta.dataOnly === true) return undefined;
  if (typeof target.db !== 'string') return undefined;
  if (target.toFile !== undefined || target.toDb !== undefined || target.dryRun === true) return undefined;
  if (target.globalsOnly === true || target.table !== undefined) return undefined;
  const jobs = typeof target.jobs === 'number' ? target.jobs : undefined;
  const singleTransaction = target.singleTransaction === true;
  if (typeof target.createDb === 'string') {
    if (singleTransaction) return undefined;
    return { target: { db: target.db, createDb: target.createDb }, jobs: jobs ?? defaultRestoreJobs() };
  }
  if (jobs === undefined || jobs <= 1) return undefined;
  if (singleTransaction) {
    throw new NexusError(
      'USAGE',
      `--jobs ${jobs} into --db loads on ${jobs} connections, which cannot be one transaction: it excludes --single-transaction`,
      {
        provider: 'postgres',
        hint: 'drop --single-transaction (a failure then leaves the database partly loaded), drop --jobs, or restore with --create-db',
      },
    );
  }
  return { target: { db: target.db }, jobs };
}

/**
 * The backup's first database artifact (`globals.sql` skipped and released), and an iterator that
 * yields it again followed by the rest, for a restore that reads the artifacts as one script.
 */
export async function peekDatabaseArtifact(
  iterator: AsyncIterator<RestoreArtifact>,
): Promise<{ first: RestoreArtifact | undefined; replay: AsyncIterator<RestoreArtifact> }> {
  let next = await iterator.next();
  while (!next.done && next.value.name === 'globals.sql') {
    next.value.stream.destroy();
    next = await iterator.next();
  }
  const first = next.done ? undefined : next.value;
  const replay = (async function* () {
    if (first === undefined) return;
    yield first;
    for (let more = await iterator.next(); !more.done; more = await iterator.next()) yield more.value;
  })();
  return { first, replay };
}
