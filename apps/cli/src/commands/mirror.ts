import { EXIT, mirrorRepositories } from '@nexus-backup/core';
import type { Command } from 'commander';
import { printJson, printLines } from '../output.js';
import { openRepositoryByName } from '../repositories.js';
import type { Runtime } from '../runtime.js';

/**
 * `mirror <from> <to> [--delete] [--dry-run] [--via METHOD]`: rsync semantics for backup repositories,
 * done by core's mirror operation. `--delete` is refused when <from> lists no backups, so an empty
 * mount cannot wipe the remote. Methods other than `stream` are offered by the <to> destination.
 */
export function registerMirror(program: Command, runtime: Runtime): void {
  const command = program
    .command('mirror')
    .description(
      'copy new and changed backups to another repository (verified; manifests last), like rsync -a',
    )
    .argument('<from>', 'the repository to mirror, usually a local path')
    .argument('<to>', 'the repository to mirror into, usually sftp://user@host/path')
    .option('--delete', 'remove backups from <to> that <from> no longer has (refused when <from> has none)')
    .option('--dry-run', 'show what would be copied and deleted, change nothing')
    .option(
      '--via <method>',
      'stream copies through nexus-backup between any two repositories; a destination may offer a faster method, e.g. rsync (runs the system rsync over ssh) for sftp:// targets',
      'stream',
    )
    .action(async (from: string, to: string) => {
      const parsed = command.optsWithGlobals();
      runtime.flags = parsed;
      const source = await openRepositoryByName(from, runtime);
      const target = await openRepositoryByName(to, runtime, { create: true });
      const report = await mirrorRepositories(source, target, {
        delete: Boolean(parsed.delete),
        dryRun: Boolean(parsed.dryRun),
        via: parsed.via as string,
        ctx: runtime.context(),
      });
      if (parsed.json) printJson(report);
      else printLines(report.lines);
      for (const failure of report.failed) runtime.log.warn(`${failure.backup}: ${failure.error.message}`);
      process.exitCode = report.failed.length > 0 ? EXIT.failed : EXIT.ok;
    });
}
