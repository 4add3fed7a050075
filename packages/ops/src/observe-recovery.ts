import { hostname } from 'node:os';
import { type RecoveryReport, TOOL_VERSION } from '@nexus-backup/core';
import { describeDatabase, recordRun } from './history-store.js';
import type { RunHooks } from './hooks.js';
import { notifyAll } from './notify.js';
import type { OpsServices } from './services.js';

/**
 * A finished recovery reported like a backup run: every notifier told, a history row (kind
 * `recovery`). Returns false when one of them failed (logged by host, never by URL): the recovery
 * itself stands, the caller turns it into a warning.
 */
export async function reportRecovery(
  report: RecoveryReport,
  services: OpsServices,
  hooks: RunHooks,
): Promise<boolean> {
  const finishedAt = services.now();
  const status = report.ok ? 'success' : 'failure';
  const text = report.ok
    ? `nexus-backup: recovery ${report.stamp} on ${hostname()} ${report.outcome} in ${(report.totalMs / 1000).toFixed(1)} s`
    : `nexus-backup: recovery ${report.stamp} on ${hostname()} ${report.outcome} at step "${report.failedStep}": ${report.error}`;
  let ok = true;
  for (const failure of await notifyAll(hooks.notifiers, { event: status, text })) {
    services.log.warn(`notification failed: ${failure.message}`);
    ok = false;
  }
  const { historyDb } = hooks;
  if (historyDb) {
    try {
      await recordRun(historyDb, {
        kind: 'recovery',
        pipeline: report.items.map((item) => item.pipeline).join(',') || 'recover',
        backupId: report.stamp,
        status,
        startedAt: new Date(finishedAt.getTime() - report.totalMs),
        finishedAt,
        durationMs: report.totalMs,
        destinations: report.items.map((item) => ({ repository: item.repository, ok: report.ok })),
        ...(report.error ? { error: `${report.failedStep}: ${report.error}` } : {}),
        warnings: report.warnings,
        host: hostname(),
        toolVersion: TOOL_VERSION,
      });
    } catch (error) {
      services.log.warn(
        `history: could not record the recovery in ${describeDatabase(historyDb)}: ${(error as Error).message}`,
      );
      ok = false;
    }
  }
  return ok;
}
