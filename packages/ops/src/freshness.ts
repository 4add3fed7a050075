import { formatBytes, manifestBytes, type RepositoryScan } from '@nexus-backup/core';
import { formatDuration } from './run-message.js';

/** What `check` demands of a pipeline's newest complete backup. */
export interface FreshnessPolicy {
  maxAgeMs?: number;
  minSize?: number;
}

export type ProblemKind =
  | 'missing'
  | 'stale'
  | 'too-small'
  | 'unverifiable'
  | 'damaged'
  | 'untrusted-time'
  | 'no-drill'
  | 'drill-stale';

export interface FreshnessProblem {
  pipeline: string;
  kind: ProblemKind;
  /** One line, starting with the pipeline: what is wrong and the numbers that show it. */
  message: string;
}

export interface NewestBackup {
  id: string;
  startedAt: string;
  finishedAt: string;
  /** Stored bytes of the artifacts (one copy, as the manifest records them). */
  bytes: number;
  durationMs: number;
  /** From the start of the backup: its data is as old as the moment it was read. */
  ageMs: number;
}

export interface PipelineFreshness {
  pipeline: string;
  ok: boolean;
  newest?: NewestBackup;
  problems: FreshnessProblem[];
}

/**
 * Judges each pipeline by its newest complete backup. Every manifest that cannot be read is a problem
 * too, old or new: it is a backup nobody can verify or restore.
 */
export function evaluateFreshness(
  scan: RepositoryScan,
  pipelines: { name: string; policy: FreshnessPolicy }[],
  repository: string,
  now: Date,
): PipelineFreshness[] {
  return pipelines.map(({ name, policy }) => {
    const problems: FreshnessProblem[] = [];
    const problem = (kind: ProblemKind, text: string) =>
      problems.push({ pipeline: name, kind, message: `${name}: ${text}` });
    for (const damaged of scan.unreadable.filter((backup) => backup.pipeline === name)) {
      problem('unverifiable', `unverifiable manifest in ${damaged.id}: ${damaged.error.message}`);
    }
    for (const damaged of scan.damaged.filter((backup) => backup.pipeline === name)) {
      problem('damaged', `damaged backup ${damaged.id}: ${damaged.problems.join('; ')}`);
    }
    // Only intact backups count: a newest backup whose objects are gone must not pass a check.
    const entry = scan.backups.filter((backup) => backup.pipeline === name).at(-1);
    if (!entry) {
      const leftovers = scan.leftovers.filter((leftover) => leftover.pipeline === name).length;
      const note =
        leftovers > 0 ? ` (${leftovers} folder(s) without a manifest: crashed or still running)` : '';
      problem('missing', `missing: no complete backup in ${repository}${note}`);
      return { pipeline: name, ok: false, problems };
    }
    const { manifest } = entry;
    // The start time bounded by the objects' own times: a manifest from the future is not "0s old".
    const started = entry.time.getTime();
    if (entry.timeWarning) problem('untrusted-time', `newest backup ${entry.id}: ${entry.timeWarning}`);
    const newest: NewestBackup = {
      id: entry.id,
      startedAt: manifest.startedAt,
      finishedAt: manifest.finishedAt,
      bytes: manifestBytes(manifest),
      durationMs: Math.max(0, new Date(manifest.finishedAt).getTime() - started),
      ageMs: Math.max(0, now.getTime() - started),
    };
    if (policy.maxAgeMs !== undefined && newest.ageMs > policy.maxAgeMs) {
      problem(
        'stale',
        `stale: newest backup ${entry.id} is ${formatDuration(newest.ageMs)} old (max ${formatDuration(policy.maxAgeMs)})`,
      );
    }
    if (policy.minSize !== undefined && newest.bytes < policy.minSize) {
      problem(
        'too-small',
        `too small: newest backup ${entry.id} stores ${newest.bytes} bytes (${formatBytes(newest.bytes)}), less than the minimum ${policy.minSize}`,
      );
    }
    return { pipeline: name, ok: problems.length === 0, newest, problems };
  });
}

/** Every pipeline the repository knows of, complete or not, so a pipeline that only crashes is not forgotten. */
export function pipelinesInScan(scan: RepositoryScan): string[] {
  const names = [...scan.backups, ...scan.damaged, ...scan.leftovers, ...scan.unreadable].map(
    (backup) => backup.pipeline,
  );
  return [...new Set(names)].sort();
}
