import { hostname } from 'node:os';
import { type BackupResult, EXIT, toNexusError } from '@nexus-backup/core';
import type { Runtime } from '../runtime.js';
import { describeDatabase, recordRun } from './history-store.js';
import { type NotifyFailure, notifyAll, notifyStart } from './notify.js';
import { describeRun } from './run-message.js';
import { failedRun, type RunRecord, succeededRun } from './run-record.js';

export interface BackupRunInfo {
  pipeline: string;
  /** Repository labels the run writes to, for the record of a run that failed before it had results. */
  destinations: string[];
}

export interface ObservedBackup {
  result: BackupResult;
  /** 1 when a notifier or the history write failed (the backup itself is fine), else 0. */
  exitCode: number;
}

type RunObserver = (record: RunRecord) => void;
const observers = new WeakMap<Runtime, Set<RunObserver>>();

/** Lets the scheduler hear about every run the runtime makes; returns the unsubscribe function. */
export function observeRuns(runtime: Runtime, observer: RunObserver): () => void {
  const set = observers.get(runtime) ?? new Set<RunObserver>();
  set.add(observer);
  observers.set(runtime, set);
  return () => set.delete(observer);
}

/**
 * Runs a backup between the config's operations hooks: healthchecks `/start` first, then the
 * notifications and the history row for its outcome, failed runs included. A failing hook never
 * fails the backup: it is logged (by host, never by URL) and turns exit 0 into 1 (finished with
 * warnings), so a broken alert channel does not go unnoticed either. The run's own error is rethrown.
 */
export async function observeBackup(
  runtime: Runtime,
  info: BackupRunInfo,
  run: () => Promise<BackupResult>,
): Promise<ObservedBackup> {
  const config = await runtime.config();
  const notifiers = config?.notify ?? [];
  const historyDb = config?.history?.db;
  let hookFailed = false;
  const reportNotifyFailures = (failures: NotifyFailure[]) => {
    for (const failure of failures) runtime.log.warn(`notification failed: ${failure.message}`);
    if (failures.length > 0) hookFailed = true;
  };

  const startedAt = new Date();
  reportNotifyFailures(
    await notifyStart(notifiers, `nexus-backup: ${info.pipeline} backup started on ${hostname()}`),
  );
  let result: BackupResult | undefined;
  let failure: unknown;
  let record: RunRecord;
  try {
    result = await run();
    record = succeededRun(info.pipeline, startedAt, result);
  } catch (error) {
    failure = error;
    record = failedRun(info.pipeline, startedAt, info.destinations, toNexusError(error));
  }

  const [notifyFailures, historyError] = await Promise.all([
    notifyAll(notifiers, { event: record.status, text: describeRun(record) }),
    historyDb
      ? recordRun(historyDb, record).then(
          () => undefined,
          (error: unknown) => error,
        )
      : undefined,
  ]);
  reportNotifyFailures(notifyFailures);
  if (historyDb && historyError) {
    runtime.log.warn(
      `history: could not record the run in ${describeDatabase(historyDb)}: ${toNexusError(historyError).message}`,
    );
    hookFailed = true;
  }
  for (const observer of observers.get(runtime) ?? []) observer(record);

  if (!result) throw failure;
  return { result, exitCode: hookFailed ? EXIT.warnings : EXIT.ok };
}
