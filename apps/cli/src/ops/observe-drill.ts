import { type DrillResult, type NexusError, toNexusError } from '@nexus-backup/core';
import type { Runtime } from '../runtime.js';
import { describeDrill, drillRecord } from './drill-record.js';
import { describeDatabase, recordRun } from './history-store.js';
import { notifyAll } from './notify.js';
import type { RunRecord } from './run-record.js';

export interface ObservedDrill {
  record: RunRecord;
  result?: DrillResult;
  error?: NexusError;
  /** A notifier or the history write failed: the drill's own outcome stands, the exit code becomes at least 1. */
  hookFailed: boolean;
}

/**
 * Runs a drill and reports its outcome like a backup run: a history row (kind `drill`) and the config's
 * webhook notifications. Healthchecks notifiers are left out: their pings stand for the backup run,
 * and a drill's success ping would hide a backup that never ran.
 */
export async function observeDrill(
  runtime: Runtime,
  target: { pipeline: string; repository: string },
  run: (found: (backupId: string) => void) => Promise<DrillResult>,
): Promise<ObservedDrill> {
  const config = await runtime.config();
  const webhooks = (config?.notify ?? []).filter((notifier) => notifier.kind === 'webhook');
  const historyDb = config?.history?.db;
  const startedAt = new Date();
  let backupId: string | undefined;
  let result: DrillResult | undefined;
  let error: NexusError | undefined;
  let record: RunRecord;
  try {
    result = await run((id) => {
      backupId = id;
    });
    record = drillRecord(target, startedAt, { result });
  } catch (caught) {
    error = toNexusError(caught);
    record = drillRecord(target, startedAt, { error, ...(backupId ? { backupId } : {}) });
  }
  let hookFailed = false;
  const [notifyFailures, historyError] = await Promise.all([
    notifyAll(webhooks, { event: record.status, text: describeDrill(record, result) }),
    historyDb
      ? recordRun(historyDb, record).then(
          () => undefined,
          (failure: unknown) => failure,
        )
      : undefined,
  ]);
  for (const failure of notifyFailures) runtime.log.warn(`notification failed: ${failure.message}`);
  if (notifyFailures.length > 0) hookFailed = true;
  if (historyDb && historyError) {
    runtime.log.warn(
      `history: could not record the drill in ${describeDatabase(historyDb)}: ${toNexusError(historyError).message}`,
    );
    hookFailed = true;
  }
  return { record, hookFailed, ...(result ? { result } : {}), ...(error ? { error } : {}) };
}
