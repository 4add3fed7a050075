import { hostname } from 'node:os';
import type { Repository, RunContext } from '@nexus-backup/core';
import {
  evaluateFreshness,
  type FreshnessPolicy,
  type FreshnessProblem,
  type PipelineFreshness,
  pipelinesInScan,
} from './freshness.js';

export interface CheckReport {
  repository: string;
  checkedAt: Date;
  ok: boolean;
  pipelines: PipelineFreshness[];
  problems: FreshnessProblem[];
}

/**
 * Scans a repository once and judges the named pipelines (default: every pipeline found in it).
 * An empty repository with nothing named is a problem: a check must never pass by finding nothing.
 */
export async function checkRepository(
  repository: Repository,
  wanted:
    | { name: string; policy: FreshnessPolicy }[]
    | ((found: string[]) => { name: string; policy: FreshnessPolicy }[]),
  ctx: RunContext,
  options: { now?: Date } = {},
): Promise<CheckReport> {
  const scan = await repository.scan(ctx);
  const checkedAt = options.now ?? new Date();
  const pipelines = typeof wanted === 'function' ? wanted(pipelinesInScan(scan)) : wanted;
  const results = evaluateFreshness(scan, pipelines, repository.label, checkedAt);
  const problems = results.flatMap((result) => result.problems);
  if (pipelines.length === 0) {
    problems.push({ pipeline: '', kind: 'missing', message: `${repository.label} holds no backups at all` });
  }
  return { repository: repository.label, checkedAt, ok: problems.length === 0, pipelines: results, problems };
}

/** The chat message for a check: every problem on its own line. */
export function describeCheck(report: CheckReport): string {
  const head = `nexus-backup check of ${report.repository} on ${hostname()}`;
  if (report.ok) return `${head}: ${report.pipelines.length} pipeline(s) fresh`;
  return `${head}: ${report.problems.length} problem(s)\n${report.problems.map((problem) => `- ${problem.message}`).join('\n')}`;
}
