import {
  type BackupPlan,
  type BackupResult,
  formatBytes,
  type Logger,
  redactOptions,
  redactValue,
  runBackup,
} from '@nexus-backup/core';
import type { OpsServices } from './services.js';

/**
 * Runs a planned backup; at debug level it logs what each stage does: the source and its options, each
 * transform with its decode parameters, each destination, then per artifact the raw and stored bytes,
 * per destination the outcome, and the timings. Secrets never appear: options are redacted first.
 */
export async function runPlannedBackup(plan: BackupPlan, services: OpsServices): Promise<BackupResult> {
  const log = services.log;
  describePlan(plan, log);
  const started = performance.now();
  const result = await runBackup(plan, services.context());
  describeResult(result, performance.now() - started, log);
  return result;
}

function describePlan(plan: BackupPlan, log: Logger): void {
  const { definition, version, options } = plan.source;
  const shown = JSON.stringify(redactValue(redactOptions(definition.options, options)));
  log.debug(`pipeline ${plan.pipeline}: source ${definition.name} ${version} with ${shown}`);
  plan.transforms.forEach((stage, index) => {
    const params = JSON.stringify(redactValue(stage.transform.params()));
    log.debug(
      `pipeline ${plan.pipeline}: transform ${index + 1} ${stage.definition.name} ${stage.version} ${params}`,
    );
  });
  if (plan.transforms.length === 0) log.debug(`pipeline ${plan.pipeline}: no transforms (stored as read)`);
  for (const target of plan.targets) {
    log.debug(
      `pipeline ${plan.pipeline}: destination ${target.repository.label}${target.optional ? ' (optional)' : ''}`,
    );
  }
}

function describeResult(result: BackupResult, elapsedMs: number, log: Logger): void {
  const { manifest } = result;
  for (const artifact of manifest.artifacts) {
    log.debug(
      `artifact ${artifact.file}: read ${formatBytes(artifact.raw.bytes)} from ${manifest.source.provider}, stored ${formatBytes(artifact.stored.bytes)} (sha256 ${artifact.stored.sha256.slice(0, 12)}...)`,
    );
  }
  for (const target of result.targets) {
    log.debug(
      `destination ${target.repository}: ${target.ok ? 'ok' : `failed: ${target.error?.message ?? 'unknown error'}`}`,
    );
  }
  log.debug(
    `backup ${manifest.pipeline}@${manifest.id} took ${(elapsedMs / 1000).toFixed(2)} s (started ${manifest.startedAt}, finished ${manifest.finishedAt})`,
  );
}
