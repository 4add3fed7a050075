import { hostname } from 'node:os';
import { type BackupResult, type NexusError, toNexusError } from '@nexus-backup/core';
import { describeDatabase, recordRun } from './history-store.js';
import type { RunHooks } from './hooks.js';
import { type NotifyFailure, notifyAll, notifyStart } from './notify.js';
import { describeRun } from './run-message.js';
import { failedRun, type RunRecord, succeededRun } from './run-record.js';
import type { OpsServices } from './services.js';

export interface BackupRunInfo {
  pipeline: string;
  /** Repository labels the run writes to, for the record of a run that failed before it had results. */
  destinations: string[];
}

export interface ObservedBackup {
  /** The run as history and notifications saw it, failed runs included. */
  record: RunRecord;
  result?: BackupResult;
  /** The run's own error; the hooks still ran. */
  error?: NexusError;
  /** A notifier or the history write failed (the backup itself is fine): the exit code becomes at least 1. */
  hookFailed: boolean;
}

/**
 * Runs a backup between the hooks: healthchecks `/start` first, then the notifications and the
 * history row for its outcome, failed runs included. A failing hook never fails the backup: it is
 * logged (by host, never by URL) and reported as `hookFailed`, so a broken alert channel does not go
 * unnoticed either. Never throws: the run's own error is in the result.
 */
export async function observeBackup(
  services: OpsServices,
  hooks: RunHooks,
  info: BackupRunInfo,
  run: () => Promise<BackupResult>,
): Promise<ObservedBackup> {
  const { notifiers, historyDb } = hooks;
  let hookFailed = false;
  const reportNotifyFailures = (failures: NotifyFailure[]) => {
    for (const failure of failures) services.log.warn(`notification failed: ${failure.message}`);
    if (failures.length > 0) hookFailed = true;
  };

  const startedAt = services.now();
  reportNotifyFailures(
    await notifyStart(notifiers, `nexus-backup: ${info.pipeline} backup started on ${hostname()}`),
  );
  let result: BackupResult | undefined;
  let error: NexusError | undefined;
  let record: RunRecord;
  try {
    result = await run();
    record = succeededRun(info.pipeline, startedAt, result, services.now());
  } catch (caught) {
    error = toNexusError(caught);
    record = failedRun(info.pipeline, startedAt, info.destinations, error, services.now());
  }

  const [notifyFailures, historyError] = await Promise.all([
    notifyAll(notifiers, { event: record.status, text: describeRun(record) }),
    historyDb
      ? recordRun(historyDb, record).then(
          () => undefined,
          (failure: unknown) => failure,
        )
      : undefined,
  ]);
  reportNotifyFailures(notifyFailures);
  if (historyDb && historyError) {
    services.log.warn(
      `history: could not record the run in ${describeDatabase(historyDb)}: ${toNexusError(historyError).message}`,
    );
    hookFailed = true;
  }
  return { record, hookFailed, ...(result ? { result } : {}), ...(error ? { error } : {}) };
}
