import { type DrillResult, type NexusError, toNexusError } from '@nexus-backup/core';
import { describeDrill, drillRecord } from './drill-record.js';
import { describeDatabase, recordRun } from './history-store.js';
import type { RunHooks } from './hooks.js';
import { notifyAll } from './notify.js';
import type { RunRecord } from './run-record.js';
import type { OpsServices } from './services.js';

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
  services: OpsServices,
  hooks: RunHooks,
  target: { pipeline: string; repository: string },
  run: (found: (backupId: string) => void) => Promise<DrillResult>,
): Promise<ObservedDrill> {
  const webhooks = hooks.notifiers.filter((notifier) => notifier.kind === 'webhook');
  const { historyDb } = hooks;
  const startedAt = services.now();
  let backupId: string | undefined;
  let result: DrillResult | undefined;
  let error: NexusError | undefined;
  let record: RunRecord;
  try {
    result = await run((id) => {
      backupId = id;
    });
    record = drillRecord(target, startedAt, { result }, services.now());
  } catch (caught) {
    error = toNexusError(caught);
    record = drillRecord(target, startedAt, { error, ...(backupId ? { backupId } : {}) }, services.now());
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
  for (const failure of notifyFailures) services.log.warn(`notification failed: ${failure.message}`);
  if (notifyFailures.length > 0) hookFailed = true;
  if (historyDb && historyError) {
    services.log.warn(
      `history: could not record the drill in ${describeDatabase(historyDb)}: ${toNexusError(historyError).message}`,
    );
    hookFailed = true;
  }
  return { record, hookFailed, ...(result ? { result } : {}), ...(error ? { error } : {}) };
}
