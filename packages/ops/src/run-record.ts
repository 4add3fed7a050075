import { hostname } from 'node:os';
import {
  type BackupResult,
  manifestBytes,
  type NexusError,
  type NotifyEvent,
  TOOL_VERSION,
} from '@nexus-backup/core';

/** How a run ended: the same words as the config's `notify.on` events. */
export type RunStatus = NotifyEvent;

export interface RunDestination {
  repository: string;
  ok: boolean;
  error?: string;
}

/** A backup run, or a restore drill of a backup (`nexus-backup drill`). */
export type RunKind = 'backup' | 'drill' | 'recovery';

/** One backup run as notifications, history and the scheduler see it (successful or not). */
export interface RunRecord {
  /** Absent means a backup run. */
  kind?: RunKind;
  pipeline: string;
  /** Absent when the run failed before a backup id existed or produced nothing. */
  backupId?: string;
  status: RunStatus;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  /** Stored bytes of all artifacts (one copy); absent for a failed run. */
  bytes?: number;
  destinations: RunDestination[];
  error?: string;
  warnings: string[];
  host: string;
  toolVersion: string;
}

export function succeededRun(
  pipeline: string,
  startedAt: Date,
  result: BackupResult,
  finishedAt: Date = new Date(),
): RunRecord {
  return {
    pipeline,
    backupId: result.manifest.id,
    status: result.warnings.length > 0 ? 'warning' : 'success',
    startedAt,
    finishedAt,
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    bytes: manifestBytes(result.manifest),
    destinations: result.targets.map((target) => ({
      repository: target.repository,
      ok: target.ok,
      ...(target.error ? { error: target.error.message } : {}),
    })),
    warnings: [...result.warnings],
    host: hostname(),
    toolVersion: TOOL_VERSION,
  };
}

export function failedRun(
  pipeline: string,
  startedAt: Date,
  destinations: string[],
  error: NexusError,
  finishedAt: Date = new Date(),
): RunRecord {
  return {
    pipeline,
    status: 'failure',
    startedAt,
    finishedAt,
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    destinations: destinations.map((repository) => ({ repository, ok: false })),
    error: error.message,
    warnings: [],
    host: hostname(),
    toolVersion: TOOL_VERSION,
  };
}
