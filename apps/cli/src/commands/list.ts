import {
  type BackupEntry,
  type DamagedBackup,
  EXIT,
  formatBytes,
  manifestBytes,
  manifestLeftOut,
} from '@nexus-backup/core';
import type { Command } from 'commander';
import { printJson, printTable } from '../output.js';
import { openRepositoryByName } from '../repositories.js';
import type { Runtime } from '../runtime.js';

/**
 * `list [PIPELINE] --from <repo> [--json]`: every backup whose objects are listed at their recorded
 * sizes; damaged backups (an artifact missing or of another size), leftovers and unreadable manifests
 * are reported apart, and make the exit code 1. Looking costs nothing extra: it is the same listing.
 */
export function registerList(program: Command, runtime: Runtime): void {
  program
    .command('list')
    .description('list the backups in a repository, each checked against the stored objects')
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
          backups: scan.backups.map((backup) => describe(backup)),
          damaged: scan.damaged.map((backup) => ({ ...describe(backup), problems: backup.problems })),
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
        const rows = [...scan.backups, ...scan.damaged].sort(
          (a, b) => a.time.getTime() - b.time.getTime() || a.id.localeCompare(b.id),
        );
        printTable(
          ['PIPELINE', 'ID', 'TIME', 'STATUS', 'SIZE', 'ARTIFACTS'],
          rows.map((backup) => [
            backup.pipeline,
            backup.id,
            backup.time.toISOString(),
            isDamaged(backup) ? 'DAMAGED' : backup.timeWarning ? 'ok (time?)' : 'ok',
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
      for (const damaged of scan.damaged)
        runtime.log.warn(
          `${damaged.pipeline}@${damaged.id} is damaged: ${damaged.problems.join('; ')}; it is not counted or restored`,
        );
      for (const backup of scan.backups.filter((entry) => entry.timeWarning))
        runtime.log.warn(`${backup.pipeline}@${backup.id}: ${backup.timeWarning}`);
      for (const unreadable of scan.unreadable)
        runtime.log.warn(`${unreadable.pipeline}/${unreadable.id}: ${unreadable.error.message}`);
      // An S3 prefix with a typo lists as empty as a new repository does: say where we looked.
      const found =
        scan.backups.length + scan.damaged.length + scan.unreadable.length + scan.leftovers.length;
      if (found === 0)
        runtime.log.info(`no backups${pipeline ? ` of ${pipeline}` : ''} in ${repository.label}`);
      const troubled = scan.unreadable.length + scan.damaged.length;
      process.exitCode = troubled > 0 ? EXIT.warnings : EXIT.ok;
    });
}

function isDamaged(backup: BackupEntry): backup is DamagedBackup {
  return 'problems' in backup;
}

function describe(backup: BackupEntry) {
  return {
    pipeline: backup.pipeline,
    id: backup.id,
    /** The start time as ordered: the manifest's, unless `timeWarning` says why it was not believed. */
    time: backup.time.toISOString(),
    ...(backup.timeWarning ? { timeWarning: backup.timeWarning } : {}),
    startedAt: backup.manifest.startedAt,
    finishedAt: backup.manifest.finishedAt,
    host: backup.manifest.host,
    source: backup.manifest.source.provider,
    transforms: backup.manifest.transforms.map((transform) => transform.provider),
    bytes: manifestBytes(backup.manifest),
    artifacts: backup.manifest.artifacts.map(({ file, stored, raw }) => ({ file, stored, raw })),
    // What the source could not back up (--allow-incomplete); empty for a complete backup.
    leftOut: manifestLeftOut(backup.manifest),
  };
}
