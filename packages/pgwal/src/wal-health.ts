import type { SourceCheckMetric, SourceCheckProblem, SourceCheckResult } from '@nexus-backup/core';

/** What `pg_stat_archiver` says about the server's archive_command. */
export interface ArchiverStats {
  archivedCount: number;
  failedCount: number;
  lastArchivedWal: string | null;
  lastArchivedAt: Date | null;
  lastFailedWal: string | null;
  lastFailedAt: Date | null;
}

export interface WalHealthInput {
  pipeline: string;
  /** The repository's label, for messages and metric labels. */
  repository: string;
  now: Date;
  /** The newest archived file and when its push completed; undefined when nothing is archived. */
  newest?: { name: string; archivedAt: Date };
  /** `--max-wal-age`; without it only the archiver is judged. */
  maxAge?: { ms: number; text: string };
  /** With `--db`: the server's archiver statistics. */
  archiver?: ArchiverStats;
}

/**
 * Is archiving alive? Stale when the newest archived WAL file is older than the maximum age (a server
 * always writes some WAL, and `archive_timeout` bounds how long a segment may stay open), and failing
 * when PostgreSQL's last archive_command failure is newer than its last success. `failed_count` is also
 * exported as a metric, so an alert on its rate catches failures that later retries hid.
 */
export function judgeWalArchive(input: WalHealthInput): SourceCheckResult {
  const problems: SourceCheckProblem[] = [];
  const lines: string[] = [];
  const { pipeline } = input;
  const labels = { pipeline, repository: input.repository };
  const metrics: SourceCheckMetric[] = [];
  if (input.maxAge) {
    if (!input.newest) {
      problems.push({
        pipeline,
        kind: 'missing',
        message: `${pipeline}: no WAL archived in ${input.repository}; check archive_command and the server log`,
      });
    } else {
      const ageMs = Math.max(0, input.now.getTime() - input.newest.archivedAt.getTime());
      const age = `newest WAL ${input.newest.name} archived ${formatAge(ageMs)} ago`;
      if (ageMs > input.maxAge.ms) {
        problems.push({
          pipeline,
          kind: 'stale',
          message: `${pipeline}: WAL archiving stalled: ${age} (max ${input.maxAge.text}); check archive_command and the server log`,
        });
      } else lines.push(`ok    ${pipeline}: ${age}`);
    }
  }
  if (input.newest) {
    metrics.push({
      name: 'nexus_backup_wal_last_archived_timestamp_seconds',
      help: 'Unix time the newest WAL file of the pipeline was archived.',
      labels,
      value: input.newest.archivedAt.getTime() / 1000,
    });
  }
  const archiver = input.archiver;
  if (archiver) {
    const failing =
      archiver.lastFailedAt !== null &&
      (archiver.lastArchivedAt === null || archiver.lastFailedAt > archiver.lastArchivedAt);
    if (failing) {
      problems.push({
        pipeline,
        kind: 'stale',
        message: `${pipeline}: archive_command is failing: ${archiver.failedCount} failure(s), the last on ${archiver.lastFailedWal} at ${archiver.lastFailedAt?.toISOString()}`,
      });
    } else {
      lines.push(`ok    ${pipeline}: archive_command succeeding (${archiver.archivedCount} archived)`);
    }
    metrics.push({
      name: 'nexus_backup_wal_archiver_failed_count',
      help: 'pg_stat_archiver.failed_count of the server (alert on its increase).',
      labels,
      value: archiver.failedCount,
    });
  }
  metrics.push({
    name: 'nexus_backup_wal_check_ok',
    help: '1 when WAL archiving of the pipeline passed the check (fresh, archive_command not failing), else 0.',
    labels,
    value: problems.length === 0 ? 1 : 0,
  });
  return { problems, metrics, lines };
}

function formatAge(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return `${Math.floor(ms / 1000)}s`;
  if (minutes < 120) return `${minutes}m`;
  return `${Math.floor(minutes / 60)}h${minutes % 60}m`;
}
