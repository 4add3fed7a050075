import { EXIT, NexusError, readLeases } from '@nexus-backup/core';
import type { Command } from 'commander';
import { printJson, printLines } from '../output.js';
import { openRepositoryByName } from '../repositories.js';
import type { Runtime } from '../runtime.js';

/**
 * `unlock [PIPELINE] --from <repo> [--force]`: removes stale leases (a holder on this host whose pid is
 * gone, or another host's lease whose heartbeat is older than the stale bound). A live lease is refused
 * unless `--force`: removing it lets a prune delete the folder a running backup writes.
 */
export function registerUnlock(program: Command, runtime: Runtime): void {
  program
    .command('unlock')
    .description('remove stale repository leases left by crashed runs (live ones only with --force)')
    .argument('[pipeline]', 'only this pipeline (default: every pipeline)')
    .requiredOption('--from <repository>', 'repository path, URL or config name')
    .option('--force', 'also remove live leases (only when you know their holder is gone)')
    .action(async (pipeline: string | undefined, _options: unknown, command: Command) => {
      runtime.flags = command.optsWithGlobals();
      const ctx = runtime.context();
      const repository = await openRepositoryByName(runtime.flags.from as string, runtime);
      const pipelines = pipeline ? [pipeline] : await repository.pipelines(ctx);
      const leases = await readLeases(repository, pipelines, ctx);
      const force = Boolean(runtime.flags.force);
      const removable = leases.filter((lease) => lease.state === 'stale' || force);
      const refused = leases.filter((lease) => !removable.includes(lease));
      await repository.deleteKeys(
        removable.map((lease) => lease.key),
        ctx,
      );
      if (runtime.flags.json) {
        printJson({
          repository: repository.label,
          removed: removable.map(({ key, state, reason, holder }) => ({ key, state, reason, holder })),
          refused: refused.map(({ key, state, reason, holder }) => ({ key, state, reason, holder })),
        });
      } else {
        printLines([
          ...removable.map(
            (lease) => `removed ${lease.state} lease ${lease.key}: ${lease.holder}, ${lease.reason}`,
          ),
          ...(leases.length === 0 ? [`no leases in ${repository.label}`] : []),
        ]);
      }
      if (refused.length > 0) {
        throw new NexusError(
          'POLICY',
          `refused to remove ${refused.length} live lease(s): ${refused.map((lease) => `${lease.key} (${lease.holder}, ${lease.reason})`).join('; ')}`,
          { hint: 'wait for the run to finish, or pass --force if you know its holder is gone' },
        );
      }
      process.exitCode = EXIT.ok;
    });
}
