import { formatBytes } from '@nexus-backup/core';
import type { RunRecord } from './run-record.js';

/** `3.2s`, `4min 05s`, `2h 03min`: short enough for a chat line. */
export function formatDuration(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}min ${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}min`;
}

/** The one line a chat channel, a healthchecks log or an operator reads about a finished run. */
export function describeRun(record: RunRecord): string {
  const where = `on ${record.host}`;
  if (record.status === 'failure') {
    return `nexus-backup: ${record.pipeline} backup FAILED ${where} after ${formatDuration(record.durationMs)}: ${record.error ?? 'unknown error'}`;
  }
  const stored = record.destinations.filter((d) => d.ok).map((d) => d.repository);
  const facts = `${record.backupId}, ${formatBytes(record.bytes ?? 0)} in ${formatDuration(record.durationMs)}, stored in ${stored.join(', ')}`;
  if (record.status === 'warning') {
    return `nexus-backup: ${record.pipeline} backup finished with warnings ${where} (${facts}): ${record.warnings.join('; ')}`;
  }
  return `nexus-backup: ${record.pipeline} backup succeeded ${where} (${facts})`;
}
