import { EXIT, NexusError } from '@nexus-backup/core';
import type { Command } from 'commander';
import { createEventLog } from '../event-log.js';
import type { Runtime } from '../runtime.js';

/** `schedule --config FILE [--json]`: a long-running scheduler for the pipelines with `schedule:`. */
export function registerSchedule(program: Command, runtime: Runtime): void {
  program
    .command('schedule')
    .description(
      "run the config's pipelines on their `schedule:` cron expressions (and restore drills on `drill.schedule`) until SIGTERM (one log line per event)",
    )
    .action(async (_options: unknown, command: Command) => {
      const flags = command.optsWithGlobals();
      runtime.flags = flags;
      const config = await runtime.config(true);
      const pipelines = Object.values(config?.pipelines ?? {}).filter((pipeline) => pipeline.schedule);
      const drills = Object.values(config?.pipelines ?? {}).filter((pipeline) => pipeline.drill?.schedule);
      if (!config || pipelines.length + drills.length === 0) {
        throw new NexusError('USAGE', `no pipeline in ${config?.file} has a schedule`, {
          hint: 'add e.g. `schedule: "0 2 * * *"` to a pipeline (cron: minute hour day month weekday), or `drill: { schedule: "0 4 1 * *" }` for a monthly restore drill',
        });
      }
      // Relative paths in a config file mean relative to that file, as for `run`.
      process.chdir(config.baseDir);
      const { runScheduler } = await import('@nexus-backup/ops');
      await runScheduler({
        pipelines,
        drills,
        hooks: await runtime.hooks(),
        services: await runtime.services(),
        log: createEventLog(runtime, Boolean(flags.json)),
      });
      process.exitCode = EXIT.ok;
    });
}
