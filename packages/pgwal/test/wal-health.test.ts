import { describe, expect, it } from 'vitest';
import { judgeWalArchive } from '../src/wal-health.js';

const now = new Date('2026-12-06T14:00:00Z');
const minutesAgo = (minutes: number) => new Date(now.getTime() - minutes * 60_000);
const maxAge = { ms: 15 * 60_000, text: '15m' };

describe('judging WAL archiving', () => {
  it('passes while the newest archived file is younger than the maximum age, and exports its time', () => {
    const result = judgeWalArchive({
      pipeline: 'wal',
      repository: '/backups',
      now,
      newest: { name: '000000010000000000000007', archivedAt: minutesAgo(10) },
      maxAge,
    });
    expect(result.problems).toEqual([]);
    expect(result.lines).toEqual(['ok    wal: newest WAL 000000010000000000000007 archived 10m ago']);
    expect(result.metrics).toContainEqual({
      name: 'nexus_backup_wal_last_archived_timestamp_seconds',
      help: expect.any(String),
      labels: { pipeline: 'wal', repository: '/backups' },
      value: minutesAgo(10).getTime() / 1000,
    });
    expect(result.metrics.find((metric) => metric.name === 'nexus_backup_wal_check_ok')?.value).toBe(1);
  });

  it('reports a stalled archive with the age of its newest file, and nothing archived as missing', () => {
    const stale = judgeWalArchive({
      pipeline: 'wal',
      repository: '/backups',
      now,
      newest: { name: '000000010000000000000007', archivedAt: minutesAgo(20) },
      maxAge,
    });
    expect(stale.problems).toEqual([
      {
        pipeline: 'wal',
        kind: 'stale',
        message:
          'wal: WAL archiving stalled: newest WAL 000000010000000000000007 archived 20m ago (max 15m); check archive_command and the server log',
      },
    ]);
    expect(stale.metrics.find((metric) => metric.name === 'nexus_backup_wal_check_ok')?.value).toBe(0);
    const none = judgeWalArchive({ pipeline: 'wal', repository: '/backups', now, maxAge });
    expect(none.problems.map((problem) => problem.kind)).toEqual(['missing']);
  });

  it('reports a failing archive_command when its last failure is newer than its last success, and exports failed_count', () => {
    const archiver = {
      archivedCount: 40,
      failedCount: 3,
      lastArchivedWal: '000000010000000000000006',
      lastArchivedAt: minutesAgo(5),
      lastFailedWal: '000000010000000000000007',
      lastFailedAt: minutesAgo(1),
    };
    const failing = judgeWalArchive({ pipeline: 'wal', repository: '/backups', now, archiver });
    expect(failing.problems).toEqual([
      {
        pipeline: 'wal',
        kind: 'stale',
        message: `wal: archive_command is failing: 3 failure(s), the last on 000000010000000000000007 at ${minutesAgo(1).toISOString()}`,
      },
    ]);
    expect(
      failing.metrics.find((metric) => metric.name === 'nexus_backup_wal_archiver_failed_count')?.value,
    ).toBe(3);
    // A later success means PostgreSQL's retry went through.
    const recovered = judgeWalArchive({
      pipeline: 'wal',
      repository: '/backups',
      now,
      archiver: { ...archiver, lastArchivedAt: minutesAgo(0) },
    });
    expect(recovered.problems).toEqual([]);
  });
});
