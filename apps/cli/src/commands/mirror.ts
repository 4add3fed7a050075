import { type Destination, EXIT, type NexusError, type RunContext, withLease } from '@nexus-backup/core';
import { type Command, Option } from 'commander';
import { printJson, printLines } from '../output.js';
import { openRepositoryByName } from '../repositories.js';
import type { Runtime } from '../runtime.js';

interface MirrorModule {
  mirrorRepository(options: {
    source: Destination;
    target: Destination;
    delete?: boolean;
    dryRun?: boolean;
    via?: 'sftp' | 'rsync';
    ctx: RunContext;
  }): Promise<{ lines: string[]; failed: { backup: string; error: NexusError }[] }>;
}

/**
 * `mirror <local-repo> <sftp-url> [--delete] [--dry-run] [--via rsync]`: rsync semantics for backup
 * repositories (new and changed backups copied and verified, manifests last). `--delete` is refused
 * when the local side lists no backups, so an empty mount cannot wipe the remote.
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
    .addOption(
      new Option('--via <method>', 'sftp streams through nexus-backup; rsync runs the system rsync over ssh')
        .choices(['sftp', 'rsync'])
        .default('sftp'),
    )
    .action(async (from: string, to: string) => {
      const parsed = command.optsWithGlobals();
      runtime.flags = parsed;
      const registry = await runtime.registry();
      const mirror = (await registry.providerModule('destination', 'sftp')) as unknown as MirrorModule;
      const source = await openRepositoryByName(from, runtime);
      const target = await openRepositoryByName(to, runtime, { create: true });
      const copy = (ctx: RunContext) =>
        mirror.mirrorRepository({
          source: source.destination,
          target: target.destination,
          delete: Boolean(parsed.delete),
          dryRun: Boolean(parsed.dryRun),
          via: parsed.via as 'sftp' | 'rsync',
          ctx,
        });
      // Folders a mirror is copying have no manifest yet: its lease keeps a prune of <to> off them.
      const ctx = runtime.context();
      const pipelines = parsed.dryRun ? [] : await source.pipelines(ctx);
      const report =
        pipelines.length > 0
          ? await withLease(target, pipelines, 'mirror', ctx, copy, { covers: '*' })
          : await copy(ctx);
      if (parsed.json) printJson(report);
      else printLines(report.lines);
      for (const failure of report.failed) runtime.log.warn(`${failure.backup}: ${failure.error.message}`);
      process.exitCode = report.failed.length > 0 ? EXIT.failed : EXIT.ok;
    });
}
