import { type BackupCheck, EXIT, manifestLeftOut, NexusError, verifyBackup } from '@nexus-backup/core';
import type { Command } from 'commander';
import { printJson } from '../output.js';
import { openRepositoryByName } from '../repositories.js';
import type { Runtime } from '../runtime.js';

/** `verify [PIPELINE[@ID]] --from <repo> [--json]`: re-reads stored bytes against the manifests; needs no secret. */
export function registerVerify(program: Command, runtime: Runtime): void {
  program
    .command('verify')
    .description('check every stored byte of backups against their manifests (no passphrase needed)')
    .argument('[selector]', 'PIPELINE, PIPELINE@ID or PIPELINE@latest; default: every backup')
    .requiredOption('--from <repository>', 'repository path, URL or config name')
    .action(async (selector: string | undefined, _options: unknown, command: Command) => {
      runtime.flags = command.optsWithGlobals();
      const ctx = runtime.context();
      const repository = await openRepositoryByName(runtime.flags.from as string, runtime);
      const [pipeline, id] = (selector ?? '').split('@');
      const scan = await repository.scan(ctx, pipeline || undefined);
      const backups = id ? [await repository.find(selector, ctx)] : scan.backups;
      if (backups.length === 0 && scan.unreadable.length === 0) {
        throw new NexusError(
          'NOT_FOUND',
          `no complete backup${pipeline ? ` of ${pipeline}` : ''} in ${repository.label}`,
        );
      }
      const checks: (BackupCheck & { leftOut: ReturnType<typeof manifestLeftOut> })[] = [];
      for (const backup of backups)
        checks.push({
          ...(await verifyBackup(repository, backup, ctx)),
          leftOut: manifestLeftOut(backup.manifest),
        });
      const unreadable = id ? [] : scan.unreadable;
      const failed = checks.filter((check) => !check.ok).length + unreadable.length;
      if (runtime.flags.json) {
        printJson({
          repository: repository.label,
          ok: failed === 0,
          backups: [
            ...checks,
            ...unreadable.map((u) => ({
              pipeline: u.pipeline,
              id: u.id,
              ok: false,
              artifacts: [],
              problem: u.error.message,
            })),
          ],
        });
      } else {
        for (const check of checks) {
          for (const artifact of check.artifacts) {
            const line = `${check.pipeline}@${check.id} ${artifact.file}`;
            if (artifact.ok) runtime.log.info(`ok      ${line}`);
            else runtime.log.warn(`FAILED  ${line}: ${artifact.problem}`);
          }
          // Intact bytes of an incomplete backup: say what it never held.
          if (check.leftOut.length > 0)
            runtime.log.warn(
              `${check.pipeline}@${check.id} is incomplete, not backed up: ${check.leftOut.map((gap) => `${gap.kind} ${gap.name}`).join('; ')}`,
            );
        }
        for (const u of unreadable) runtime.log.warn(`FAILED  ${u.pipeline}@${u.id}: ${u.error.message}`);
        runtime.log.info(`${checks.length + unreadable.length} backup(s) checked, ${failed} failed`);
      }
      process.exitCode = failed > 0 ? EXIT.failed : EXIT.ok;
    });
}
