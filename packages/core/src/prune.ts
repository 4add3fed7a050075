import type { RunContext } from './contracts.js';
import { LEASE_STALE_MS, type LeaseInfo, leaseCovering, readLeases, withLease } from './lease.js';
import { MANIFEST_FILE } from './manifest.js';
import {
  type BackupEntry,
  MANIFEST_TIME_TOLERANCE_MS,
  type Repository,
  type RepositoryScan,
} from './repository.js';
import { decideRetention, type RetentionPolicy } from './retention.js';
import { type BackupCheck, verifyBackup } from './verify.js';

export interface PruneOptions {
  pipeline?: string | undefined;
  /** Leftovers (no manifest) younger than this are kept even without a lease. */
  graceMs: number;
  dryRun: boolean;
  /**
   * How prune checks the newest backup it relies on; default: the stored bytes against the manifest.
   * The CLI also checks the manifest is restorable and decodes backups that need no passphrase.
   */
  verify?: (backup: BackupEntry, ctx: RunContext) => Promise<BackupCheck>;
}

export interface PruneDecision {
  pipeline: string;
  id: string;
  time: string;
  action: 'keep' | 'remove';
  reasons: string[];
}

export interface PruneOutcome {
  repository: string;
  decisions: PruneDecision[];
  /** Backups whose objects are missing or changed: never counted by retention, kept for inspection. */
  damaged: { pipeline: string; id: string; time: string; problems: string[] }[];
  leftovers: { pipeline: string; id: string; action: 'keep' | 'remove'; reason: string }[];
  /** Stale leases removed (or, with dryRun, that would be). */
  staleLeases: string[];
  cleaned: string[];
  /** Problems that did not stop the prune: damaged backups, a pipeline with no backup that verifies. */
  warnings: string[];
}

/**
 * Applies a retention policy per pipeline while holding a prune lease. Only intact backups count;
 * before anything of a pipeline is removed, its newest intact backup is read and hash-checked (the
 * next one if that fails), and that newest verified backup is never removed. Leftovers covered by a
 * live lease (a running backup or mirror) are never removed, whatever `graceMs` says.
 */
export async function pruneRepository(
  repository: Repository,
  policy: RetentionPolicy,
  callerCtx: RunContext,
  options: PruneOptions,
): Promise<PruneOutcome> {
  // Listing first, leases second (in `prune`): a backup writes its lease before its first object, so
  // any folder this listing shows was leased before the leases are read, or is finished, or is dead.
  const scan = await repository.scan(callerCtx, options.pipeline);
  const pipelines = options.pipeline ? [options.pipeline] : pipelinesOf(scan);
  if (pipelines.length === 0 || options.dryRun)
    return prune(repository, scan, pipelines, policy, callerCtx, options);
  // Prune's own lease tells `unlock` and other runs that it is at work; it protects nothing itself.
  return withLease(repository, pipelines, 'prune', callerCtx, (ctx) =>
    prune(repository, scan, pipelines, policy, ctx, options),
  );
}

async function prune(
  repository: Repository,
  scan: RepositoryScan,
  pipelines: string[],
  policy: RetentionPolicy,
  ctx: RunContext,
  options: PruneOptions,
): Promise<PruneOutcome> {
  const now = new Date();
  const leases = await readLeases(repository, pipelines, ctx, now);
  const outcome: PruneOutcome = {
    repository: repository.label,
    decisions: [],
    damaged: [],
    leftovers: [],
    staleLeases: [],
    cleaned: [],
    warnings: [],
  };
  for (const backup of scan.damaged) {
    outcome.damaged.push({
      pipeline: backup.pipeline,
      id: backup.id,
      time: backup.time.toISOString(),
      problems: backup.problems,
    });
    outcome.warnings.push(
      `${backup.pipeline}@${backup.id} is damaged (${backup.problems.join('; ')}): not counted by retention, not removed`,
    );
  }
  for (const pipeline of [...new Set(scan.backups.map((backup) => backup.pipeline))]) {
    await prunePipeline(
      repository,
      scan.backups.filter((backup) => backup.pipeline === pipeline),
      policy,
      now,
      ctx,
      options,
      outcome,
    );
  }
  for (const leftover of scan.leftovers) {
    const decision = await decideLeftover(repository, leftover, leases, now, ctx, options);
    outcome.leftovers.push({ pipeline: leftover.pipeline, id: leftover.id, ...decision });
    if (decision.action === 'remove' && !options.dryRun) await repository.deleteKeys(leftover.keys, ctx);
  }
  const stale = leases.filter((lease) => lease.state === 'stale');
  outcome.staleLeases = stale.map((lease) => `${lease.key}: ${lease.holder}, ${lease.reason}`);
  if (!options.dryRun)
    await repository.deleteKeys(
      stale.map((lease) => lease.key),
      ctx,
    );
  const cleanup = repository.destination.cleanup;
  if (cleanup) {
    const olderThan = await cleanupBound(repository, now, options, ctx);
    outcome.cleaned = await cleanup.call(repository.destination, olderThan, ctx, options.dryRun);
  }
  return outcome;
}

/**
 * Temp files and open multipart uploads carry no owner, only an age, and a writer's first one (its
 * lease) exists before any lease can be read. So housekeeping spares everything younger than the
 * stale bound, whatever --grace says, and everything since the oldest live lease of the repository
 * began (less the clock skew allowed between hosts): a long upload of a running backup stays.
 */
async function cleanupBound(
  repository: Repository,
  now: Date,
  options: PruneOptions,
  ctx: RunContext,
): Promise<Date> {
  let bound = Math.min(now.getTime() - options.graceMs, now.getTime() - LEASE_STALE_MS);
  const leases = await readLeases(repository, await repository.pipelines(ctx), ctx, now);
  for (const lease of leases) {
    if (lease.state !== 'live') continue;
    const start = lease.record ? Date.parse(lease.record.start) : Number.NaN;
    // An unreadable live lease says nothing about its start: spare everything of the stale window.
    const since = Number.isNaN(start) ? now.getTime() - LEASE_STALE_MS : start;
    bound = Math.min(bound, since - MANIFEST_TIME_TOLERANCE_MS);
  }
  return new Date(bound);
}

async function prunePipeline(
  repository: Repository,
  intact: BackupEntry[],
  policy: RetentionPolicy,
  now: Date,
  ctx: RunContext,
  options: PruneOptions,
  outcome: PruneOutcome,
): Promise<void> {
  const pipeline = intact[0]?.pipeline as string;
  const unverified = new Map<string, string>();
  let counted = intact;
  let decisions = decide(counted, policy, now);
  let newestGood: BackupEntry | undefined;
  // Only when something would go: read the newest backup the policy keeps, so a bit-flipped newest
  // backup cannot be what retention relies on while the older good ones are removed.
  if (decisions.some((decision) => decision.action === 'remove')) {
    for (const backup of [...intact].reverse()) {
      const check = options.verify
        ? await options.verify(backup, ctx)
        : await verifyBackup(repository, backup, ctx);
      if (check.ok) {
        newestGood = backup;
        break;
      }
      const problem =
        check.problems?.join('; ') ||
        check.artifacts.find((artifact) => !artifact.ok)?.problem ||
        'failed verification';
      unverified.set(backup.id, problem);
      outcome.damaged.push({ pipeline, id: backup.id, time: backup.time.toISOString(), problems: [problem] });
      outcome.warnings.push(
        `${pipeline}@${backup.id} fails verification (${problem}): not counted by retention, not removed`,
      );
    }
    counted = intact.filter((backup) => !unverified.has(backup.id));
    decisions = decide(counted, policy, now);
  }
  if (decisions.some((decision) => decision.action === 'remove') && !newestGood) {
    outcome.warnings.push(
      `no backup of ${pipeline} verifies: prune removes none of its backups; check with: nexus-backup verify ${pipeline} --from ${repository.label}`,
    );
  }
  for (const decision of decisions) {
    let { action } = decision;
    const reasons = [...decision.reasons];
    if (decision.id === newestGood?.id) {
      // Retention keeps the newest counted backup anyway; this guard makes it a rule of prune itself.
      if (action === 'remove') {
        outcome.warnings.push(
          `prune refuses to remove ${pipeline}@${decision.id}: it is the newest verified backup of ${pipeline}`,
        );
      }
      action = 'keep';
      reasons.push('newest verified backup');
    } else if (action === 'remove' && !newestGood) {
      action = 'keep';
      reasons.push('kept: no verified backup of this pipeline');
    }
    outcome.decisions.push({ pipeline, id: decision.id, time: decision.time.toISOString(), action, reasons });
    if (action === 'remove' && !options.dryRun) await repository.deleteBackup(pipeline, decision.id, ctx);
  }
  for (const [id, problem] of unverified) {
    const backup = intact.find((candidate) => candidate.id === id) as BackupEntry;
    outcome.decisions.push({
      pipeline,
      id,
      time: backup.time.toISOString(),
      action: 'keep',
      reasons: [`fails verification (${problem}): not counted`],
    });
  }
  outcome.decisions.sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
}

function decide(backups: BackupEntry[], policy: RetentionPolicy, now: Date) {
  return decideRetention(
    backups.map((backup) => ({ id: backup.id, time: backup.time, complete: true })),
    policy,
    now,
  );
}

async function decideLeftover(
  repository: Repository,
  leftover: { pipeline: string; id: string; newest: Date },
  leases: readonly LeaseInfo[],
  now: Date,
  ctx: RunContext,
  options: PruneOptions,
): Promise<{ action: 'keep' | 'remove'; reason: string }> {
  const lease = leaseCovering(leases, leftover.pipeline, leftover.id);
  if (lease)
    return { action: 'keep', reason: `being written: live lease of ${lease.holder} (${lease.reason})` };
  // Its own writer's lease says the writer is gone (on this host: at once): a crashed run, grace or not.
  const dead = leases.find(
    (candidate) =>
      candidate.state === 'stale' &&
      candidate.record?.pipeline === leftover.pipeline &&
      candidate.record.covers === leftover.id,
  );
  if (dead)
    return { action: 'remove', reason: `a crashed run: its writer's lease is stale (${dead.reason})` };
  if (now.getTime() - leftover.newest.getTime() < options.graceMs) {
    return { action: 'keep', reason: 'no manifest yet: may still be running (within --grace)' };
  }
  // Its writer may have committed and released its lease between our listing and the lease read.
  for await (const object of repository.destination.list(`${leftover.pipeline}/${leftover.id}/`, ctx)) {
    if (object.key.endsWith(`/${MANIFEST_FILE}`)) {
      return { action: 'keep', reason: 'completed while prune ran' };
    }
  }
  return { action: 'remove', reason: 'no manifest and no live lease: a crashed run' };
}

function pipelinesOf(scan: RepositoryScan): string[] {
  const names = [...scan.backups, ...scan.damaged, ...scan.leftovers, ...scan.unreadable].map(
    (entry) => entry.pipeline,
  );
  return [...new Set(names)].sort();
}
