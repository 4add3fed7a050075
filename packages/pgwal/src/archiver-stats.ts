import { connect } from './base-backup.js';
import type { ArchiverStats } from './wal-health.js';

/** One read of `pg_stat_archiver` (PostgreSQL 9.4+, same columns on every supported major). */
export async function readArchiverStats(url: string): Promise<ArchiverStats> {
  const client = await connect(url);
  try {
    const { rows } = await client.query<{
      archived: string;
      failed: string;
      archivedWal: string | null;
      archivedAt: Date | null;
      failedWal: string | null;
      failedAt: Date | null;
    }>(
      `SELECT archived_count::text AS archived, failed_count::text AS failed,
              last_archived_wal AS "archivedWal", last_archived_time AS "archivedAt",
              last_failed_wal AS "failedWal", last_failed_time AS "failedAt"
         FROM pg_stat_archiver`,
    );
    const row = rows[0];
    return {
      archivedCount: Number(row?.archived ?? 0),
      failedCount: Number(row?.failed ?? 0),
      lastArchivedWal: row?.archivedWal ?? null,
      lastArchivedAt: row?.archivedAt ?? null,
      lastFailedWal: row?.failedWal ?? null,
      lastFailedAt: row?.failedAt ?? null,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}
