import { EXIT, formatBytes, manifestBytes, manifestLeftOut } from '@nexus-backup/core';
import type { Command } from 'commander';
import { printJson, printTable } from '../output.js';
import { openRepositoryByName } from '../repositories.js';
import type { Runtime } from '../runtime.js';

/** `list [PIPELINE] --from <repo> [--json]`: complete backups only; leftovers and damaged ones are reported apart. */
export function registerList(program: Command, runtime: Runtime): void {
  program
    .command('list')
    .description('list the complete backups in a repository')
    .argument('[pipeline]', 'only this pipeline')
    .requiredOption('--from <repository>', 'repository path, URL or config name')
    .action(async (pipeline: string | undefined, _options: unknown, command: Command) => {
      runtime.flags = command.optsWithGlobals();
      const ctx = runtime.context();
      const repository = await openRepositoryByName(runtime.flags.from as string, runtime);
      const scan = await repository.scan(ctx, pipeline);
      if (runtime.flags.json) {
        printJson({
          repository: repository.label,
          backups: scan.backups.map((backup) => ({
            pipeline: backup.pipeline,
            id: backup.id,
            startedAt: backup.manifest.startedAt,
            finishedAt: backup.manifest.finishedAt,
            host: backup.manifest.host,
            source: backup.manifest.source.provider,
            transforms: backup.manifest.transforms.map((transform) => transform.provider),
            bytes: manifestBytes(backup.manifest),
            artifacts: backup.manifest.artifacts.map(({ file, stored, raw }) => ({ file, stored, raw })),
            // What the source could not back up (--allow-incomplete); empty for a complete backup.
            leftOut: manifestLeftOut(backup.manifest),
          })),
          incomplete: scan.leftovers.map(({ pipeline: p, id, keys, newest }) => ({
            pipeline: p,
            id,
            objects: keys.length,
            modified: newest,
          })),
          unreadable: scan.unreadable.map(({ pipeline: p, id, error }) => ({
            pipeline: p,
            id,
            error: error.message,
          })),
        });
      } else {
        printTable(
          ['PIPELINE', 'ID', 'FINISHED', 'SIZE', 'ARTIFACTS'],
          scan.backups.map((backup) => [
            backup.pipeline,
            backup.id,
            backup.manifest.finishedAt,
            formatBytes(manifestBytes(backup.manifest)),
            backup.manifest.artifacts.map((artifact) => artifact.file).join(' '),
          ]),
        );
        for (const backup of scan.backups) {
          const left = manifestLeftOut(backup.manifest);
          if (left.length > 0)
            runtime.log.warn(
              `${backup.pipeline}@${backup.id} is incomplete, not backed up: ${left.map((gap) => `${gap.kind} ${gap.name}`).join('; ')}`,
            );
        }
        for (const leftover of scan.leftovers) {
          runtime.log.warn(
            `${leftover.pipeline}/${leftover.id} has no manifest (crashed or running); not a backup, prune removes it`,
          );
        }
      }
      for (const damaged of scan.unreadable)
        runtime.log.warn(`${damaged.pipeline}/${damaged.id}: ${damaged.error.message}`);
      process.exitCode = scan.unreadable.length > 0 ? EXIT.warnings : EXIT.ok;
    });
}
