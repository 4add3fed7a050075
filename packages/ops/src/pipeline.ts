import {
  type BackupResult,
  EXIT,
  exitCodeFor,
  type NexusError,
  type PipelineConfig,
  type PruneOutcome,
  pruneRepository,
  toNexusError,
} from '@nexus-backup/core';
import type { RunHooks } from './hooks.js';
import { type ObservedBackup, observeBackup } from './observe-backup.js';
import { openRepository, type RepositoryRef } from './open-repository.js';
import { buildBackupPlan } from './plan.js';
import { runPlannedBackup } from './run-backup.js';
import type { OpsServices } from './services.js';

/** Leftovers younger than this are kept by a run's retention: another run may still be writing them. */
const RETENTION_GRACE_MS = 24 * 3600 * 1000;

export interface RetentionRun {
  repository: string;
  outcome?: PruneOutcome;
  /** Retention failed in this repository (the backup stands): a warning. */
  error?: NexusError;
}

export interface PipelineRun {
  pipeline: string;
  backup: ObservedBackup;
  retention: RetentionRun[];
  /** 0 ok, 1 warnings (an optional repository, a hook or retention failed), 2 failed, 64 usage or config. */
  exitCode: number;
}

export interface PipelineRunOptions {
  /** Notifications and history around the backup (default: none). */
  hooks?: RunHooks;
  /** Called once the backup succeeded, before retention: a caller prints its report here. */
  onBackup?(result: BackupResult): void;
  /** Called after retention in each repository. */
  onRetention?(outcome: PruneOutcome): void;
}

/** The repositories of a config pipeline, named as the config names them. */
export function pipelineRepositories(pipeline: PipelineConfig): RepositoryRef[] {
  return pipeline.to.map((repository) => ({
    url: repository.url,
    optional: repository.optional,
    label: repository.name ?? repository.url,
  }));
}

/**
 * One config pipeline as `nexus-backup run` runs it: the backup (with the hooks around it), then its
 * retention in every repository it writes to. Never throws: failures are in the result and its exit code.
 */
export async function runPipeline(
  pipeline: PipelineConfig,
  services: OpsServices,
  options: PipelineRunOptions = {},
): Promise<PipelineRun> {
  const targets = pipelineRepositories(pipeline);
  const backup = await observeBackup(
    services,
    options.hooks ?? { notifiers: [] },
    { pipeline: pipeline.name, destinations: targets.map((target) => target.label) },
    async () => {
      const plan = await buildBackupPlan(
        {
          pipeline: pipeline.name,
          source: {
            name: pipeline.source.use,
            values: pipeline.source.options,
            path: pipeline.source.path,
            fromCli: false,
          },
          transforms: pipeline.transforms.map((use) => ({
            name: use.use,
            values: use.options,
            path: use.path,
            fromCli: false,
          })),
          defaultTransforms: pipeline.transformsDefaulted === true,
          targets,
        },
        services,
      );
      return runPlannedBackup(plan, services);
    },
  );
  const hooksExit = backup.hookFailed ? EXIT.warnings : EXIT.ok;
  if (!backup.result) {
    return {
      pipeline: pipeline.name,
      backup,
      retention: [],
      exitCode: Math.max(exitCodeFor(backup.error), hooksExit),
    };
  }
  options.onBackup?.(backup.result);
  let exitCode = Math.max(backup.result.warnings.length > 0 ? EXIT.warnings : EXIT.ok, hooksExit);
  const retention: RetentionRun[] = [];
  if (pipeline.retention) {
    for (const target of targets) {
      try {
        const repository = await openRepository(target, services);
        const outcome = await pruneRepository(repository, pipeline.retention, services.context(), {
          pipeline: pipeline.name,
          graceMs: RETENTION_GRACE_MS,
          dryRun: false,
        });
        retention.push({ repository: target.label, outcome });
        options.onRetention?.(outcome);
      } catch (error) {
        const failure = toNexusError(error);
        services.log.warn(`retention of ${pipeline.name} in ${target.label} failed: ${failure.message}`);
        retention.push({ repository: target.label, error: failure });
        exitCode = Math.max(exitCode, EXIT.warnings);
      }
    }
  }
  return { pipeline: pipeline.name, backup, retention, exitCode };
}
