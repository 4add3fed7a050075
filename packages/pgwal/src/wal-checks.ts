import {
  type Json,
  parseClockDurationMs,
  type Repository,
  type RunContext,
  type SourceCheckResult,
  type SourceDataCheck,
} from '@nexus-backup/core';
import { readArchiverStats } from './archiver-stats.js';
import { baseBackupsFor } from './base-info.js';
import { type ContinuityReport, checkContinuity } from './continuity.js';
import { listWalArchive } from './wal-archive.js';
import { judgeWalArchive } from './wal-health.js';

/** The WAL pipelines the repository's base backups archive into. */
async function referencedWalPipelines(repository: Repository, ctx: RunContext): Promise<string[]> {
  const bases = await baseBackupsFor(repository, undefined, ctx);
  return [...new Set(bases.map((base) => base.walPipeline))].sort();
}

/**
 * `verify` (the `verifyData` hook): archive continuity of every WAL pipeline a base backup names, or
 * of the one pipeline asked for when it holds archived WAL (`verify wal`).
 */
export async function verifyWalData(
  repository: Repository,
  ctx: RunContext,
  options: { pipeline?: string },
): Promise<SourceDataCheck[]> {
  const referenced = await referencedWalPipelines(repository, ctx);
  const pipelines = options.pipeline ? [options.pipeline] : referenced;
  const checks: SourceDataCheck[] = [];
  for (const pipeline of pipelines) {
    const report = await checkContinuity(repository, pipeline, ctx);
    // Not a WAL pipeline: no archived WAL and no base backup naming it.
    if (report.timelines.length === 0 && !referenced.includes(pipeline)) continue;
    checks.push({
      pipeline,
      ok: report.ok && report.timelines.length > 0,
      lines: continuityLines(report, repository.label),
      details: report as unknown as Json,
    });
  }
  return checks;
}

/** One line per timeline: its range and, when broken, the missing segments. */
export function continuityLines(report: ContinuityReport, repository: string): string[] {
  const lines = report.timelines.map((timeline) =>
    timeline.gaps.length === 0
      ? `WAL ${report.pipeline} timeline ${timeline.timeline}: ${timeline.first}..${timeline.last} complete`
      : `WAL ${report.pipeline} timeline ${timeline.timeline}: ${timeline.first}..${timeline.last} MISSING ${timeline.gaps.join(', ')}`,
  );
  if (report.timelines.length === 0) lines.push(`WAL ${report.pipeline}: nothing archived in ${repository}`);
  for (const key of report.incomplete)
    lines.push(`WAL ${report.pipeline}: incomplete push (ignored): ${key}`);
  return lines;
}

export interface WalCheckOptions {
  maxWalAge?: string;
  walPipeline?: string;
  db?: string;
}

/**
 * `check` (the `check` hook): judges each WAL pipeline (`--wal-pipeline`, else those the base backups
 * name, else `wal`) by its newest archived file, and with `--db` the server's archiver statistics.
 */
export async function checkWalArchives(
  repository: Repository,
  options: WalCheckOptions,
  ctx: RunContext,
): Promise<SourceCheckResult> {
  const maxAge =
    options.maxWalAge === undefined
      ? undefined
      : { ms: parseClockDurationMs(options.maxWalAge), text: options.maxWalAge };
  const archiver = options.db ? await readArchiverStats(options.db) : undefined;
  const referenced = options.walPipeline ? [] : await referencedWalPipelines(repository, ctx);
  const pipelines = options.walPipeline
    ? [options.walPipeline]
    : referenced.length > 0
      ? referenced
      : ['wal'];
  const result: SourceCheckResult = { problems: [], metrics: [], lines: [] };
  for (const pipeline of pipelines) {
    const one = judgeWalArchive({
      pipeline,
      repository: repository.label,
      now: new Date(),
      newest: await newestArchived(repository, pipeline, ctx),
      ...(maxAge ? { maxAge } : {}),
      ...(archiver ? { archiver } : {}),
    });
    result.problems.push(...one.problems);
    result.metrics.push(...one.metrics);
    result.lines.push(...one.lines);
  }
  return result;
}

/** The most recently completed push of a pipeline (its marker's time), if any. */
export async function newestArchived(
  repository: Repository,
  pipeline: string,
  ctx: RunContext,
): Promise<{ name: string; archivedAt: Date } | undefined> {
  const { files } = await listWalArchive(repository, pipeline, ctx);
  let newest: { name: string; archivedAt: Date } | undefined;
  for (const file of files)
    if (!newest || file.modified > newest.archivedAt) newest = { name: file.name, archivedAt: file.modified };
  return newest;
}
