import {
  type BackupResult,
  EXIT,
  exitCodeFor,
  formatError,
  NexusError,
  type PipelineConfig,
  toNexusError,
} from '@nexus-backup/core';
import type { Command } from 'commander';
import { observeBackup } from '../ops/observe-backup.js';
import { buildBackupPlan } from '../plan.js';
import { openRepository } from '../repositories.js';
import type { Runtime } from '../runtime.js';
import { runPlannedBackup } from '../verbose-backup.js';
import { reportBackup } from './backup-report.js';
import { printPrune, pruneRepository } from './prune.js';

const RETENTION_GRACE_MS = 24 * 3600 * 1000;

/** `run [PIPELINE...] [--config FILE]`: named pipelines from the config, each followed by its retention. */
export function registerRun(program: Command, runtime: Runtime): void {
  program
    .command('run')
    .description('run pipelines from the config file (all of them by default), then apply their retention')
    .argument('[pipelines...]', 'pipeline names from the config')
    .action(async (names: string[], _options: unknown, command: Command) => {
      runtime.flags = command.optsWithGlobals();
      const config = await runtime.config(true);
      const all = Object.values(config?.pipelines ?? {});
      for (const name of names) {
        if (!config?.pipelines[name]) {
          throw new NexusError('USAGE', `no pipeline "${name}" in ${config?.file}`, {
            hint: `known pipelines: ${all.map((p) => p.name).join(', ') || '(none)'}`,
          });
        }
      }
      const selected =
        names.length > 0 ? names.map((name) => config?.pipelines[name] as PipelineConfig) : all;
      // Relative paths in a config file (`dir: ./credentials`) mean relative to that file, as for repositories.
      if (config) process.chdir(config.baseDir);
      let exitCode: number = EXIT.ok;
      for (const pipeline of selected) exitCode = Math.max(exitCode, await runPipeline(pipeline, runtime));
      process.exitCode = exitCode;
    });
}

/** One pipeline: backup, then retention on every repository that took it. Failures are reported, not thrown. */
export async function runPipeline(
  pipeline: PipelineConfig,
  runtime: Runtime,
  options: { report?: boolean } = {},
): Promise<number> {
  let result: BackupResult;
  let hooksExit: number;
  const run = {
    pipeline: pipeline.name,
    destinations: pipeline.to.map((repository) => repository.name ?? repository.url),
  };
  try {
    // observeBackup sends the config's notifications and history row around the run (issue 8).
    ({ result, exitCode: hooksExit } = await observeBackup(runtime, run, async () => {
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
          targets: pipeline.to.map((repository) => ({
            url: repository.url,
            optional: repository.optional,
            label: repository.name ?? repository.url,
          })),
        },
        runtime,
      );
      return runPlannedBackup(plan, runtime);
    }));
  } catch (error) {
    // The pipeline failed (the others still run): an error line, and its code through the one mapping.
    const failure = toNexusError(error);
    runtime.log.error(
      `pipeline ${pipeline.name} failed: ${formatError(failure).replace(/^\[nexus-backup\] /, '')}`,
    );
    return exitCodeFor(failure);
  }
  // The scheduler (report: false) logs one-line events of its own instead of the report and prune table.
  const backupExit =
    options.report === false
      ? result.warnings.length > 0
        ? EXIT.warnings
        : EXIT.ok
      : reportBackup(result, runtime);
  let exitCode = Math.max(backupExit, hooksExit);
  if (pipeline.retention) {
    for (const repository of pipeline.to) {
      try {
        const opened = await openRepository(
          { url: repository.url, optional: repository.optional, label: repository.name ?? repository.url },
          runtime,
        );
        const outcome = await pruneRepository(opened, pipeline.retention, runtime.context(), {
          pipeline: pipeline.name,
          graceMs: RETENTION_GRACE_MS,
          dryRun: false,
        });
        if (!runtime.flags.json && options.report !== false) printPrune(outcome, runtime, false);
      } catch (error) {
        runtime.log.warn(
          `retention of ${pipeline.name} in ${repository.name ?? repository.url} failed: ${toNexusError(error).message}`,
        );
        exitCode = Math.max(exitCode, EXIT.warnings);
      }
    }
  }
  return exitCode;
}
