import { EXIT, formatError, NexusError, type PipelineConfig } from '@nexus-backup/core';
import type { Command } from 'commander';
import type { Runtime } from '../runtime.js';
import { reportBackup } from './backup-report.js';
import { printPrune } from './prune.js';

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
      for (const pipeline of selected) exitCode = Math.max(exitCode, await runAndReport(pipeline, runtime));
      process.exitCode = exitCode;
    });
}

/** One pipeline through the operations layer, with its report and retention tables printed as they happen. */
async function runAndReport(pipeline: PipelineConfig, runtime: Runtime): Promise<number> {
  const { runPipeline } = await import('@nexus-backup/ops');
  const run = await runPipeline(pipeline, await runtime.services(), {
    hooks: await runtime.hooks(),
    onBackup: (result) => reportBackup(result, runtime),
    onRetention: (outcome) => {
      if (!runtime.flags.json) printPrune(outcome, runtime, false);
    },
  });
  const failure = run.backup.error;
  if (failure) {
    // The pipeline failed (the others still run): an error line, and its code through the one mapping.
    runtime.log.error(
      `pipeline ${pipeline.name} failed: ${formatError(failure).replace(/^\[nexus-backup\] /, '')}`,
    );
  }
  return run.exitCode;
}
