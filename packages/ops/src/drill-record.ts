import { hostname } from 'node:os';
import { type DrillResult, formatBytes, type NexusError, TOOL_VERSION } from '@nexus-backup/core';
import { formatDuration } from './run-message.js';
import type { RunRecord } from './run-record.js';

/** What differed, one clause per failed check, for the history row and the notification. */
export function drillProblems(result: DrillResult): string[] {
  return result.checks.filter((check) => !check.ok).map((check) => check.problem ?? `${check.name} differs`);
}

/** A drill as history and notifications see it: bytes are the bytes restored, duration the whole drill. */
export function drillRecord(
  target: { pipeline: string; repository: string },
  startedAt: Date,
  outcome: { result: DrillResult } | { error: NexusError; backupId?: string },
  finishedAt: Date = new Date(),
): RunRecord {
  const base = {
    kind: 'drill' as const,
    pipeline: target.pipeline,
    startedAt,
    finishedAt,
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    host: hostname(),
    toolVersion: TOOL_VERSION,
  };
  if ('error' in outcome) {
    return {
      ...base,
      ...(outcome.backupId ? { backupId: outcome.backupId } : {}),
      status: 'failure',
      destinations: [{ repository: target.repository, ok: false }],
      error: outcome.error.message,
      warnings: [],
    };
  }
  const { result } = outcome;
  return {
    ...base,
    backupId: result.backupId,
    status: result.ok ? 'success' : 'failure',
    bytes: result.bytesRestored,
    destinations: [{ repository: target.repository, ok: true }],
    ...(result.ok ? {} : { error: drillProblems(result).join('; ') }),
    warnings: [...result.notes],
  };
}

/** The one line a chat channel reads about a drill; the restore time is what a runbook quotes. */
export function describeDrill(record: RunRecord, result?: DrillResult): string {
  const what = `nexus-backup: ${record.pipeline} restore drill`;
  const where = `on ${record.host}`;
  const backup = record.backupId ? ` of ${record.backupId}` : '';
  if (record.status === 'failure') {
    return `${what}${backup} FAILED ${where}: ${record.error ?? 'unknown error'}`;
  }
  const restored = result
    ? `restored ${formatBytes(result.bytesRestored)} in ${formatDuration(result.restoreMs)}, ${result.facts.join(', ')}`
    : '';
  return `${what}${backup} succeeded ${where} (${restored})`;
}
