import type { PipelineConfig } from '@nexus-backup/core';
import { formatBytes } from '@nexus-backup/core';
import { drillProblems } from './drill-record.js';
import { drillBackup, drillExitCode } from './drill-run.js';
import type { EventLog } from './event-log.js';
import type { RunHooks } from './hooks.js';
import { formatDuration } from './run-message.js';
import type { OpsServices } from './services.js';

/**
 * One scheduled drill of a pipeline's latest backup in its first (required) repository: history and
 * webhooks as for `nexus-backup drill`, then one `drill-finished` event with the outcome.
 */
export async function scheduledDrill(
  pipeline: PipelineConfig,
  services: OpsServices,
  hooks: RunHooks,
  log: EventLog,
): Promise<void> {
  log('drill-started', { pipeline: pipeline.name }, `${pipeline.name}: restore drill started`);
  const repository = pipeline.to.find((target) => !target.optional) ?? pipeline.to[0];
  if (!repository) return;
  const observed = await drillBackup(
    {
      selector: `${pipeline.name}@latest`,
      repository: {
        url: repository.url,
        optional: repository.optional,
        label: repository.name ?? repository.url,
      },
      pipeline,
      checks: [],
    },
    services,
    hooks,
  );
  const { record, result } = observed;
  const exitCode = drillExitCode(observed);
  const fields = {
    pipeline: pipeline.name,
    status: record.status,
    exitCode,
    backupId: record.backupId ?? null,
    restoreMs: result?.restoreMs ?? null,
    bytesRestored: result?.bytesRestored ?? null,
    ...(record.error ? { error: record.error } : {}),
    ...(services.signal.aborted ? { interrupted: true } : {}),
  };
  const text = result?.ok
    ? `${pipeline.name}: restore drill of ${record.backupId} ok, restored ${formatBytes(result.bytesRestored)} in ${formatDuration(result.restoreMs)}`
    : `${pipeline.name}: restore drill FAILED: ${result ? drillProblems(result).join('; ') : (record.error ?? 'unknown error')}`;
  log('drill-finished', fields, text, result?.ok ? 'info' : 'warning');
}
