import { type BackupCheck, EXIT, manifestLeftOut, NexusError, verifyRestorable } from '@nexus-backup/core';
import type { Command } from 'commander';
import { printJson } from '../output.js';
import { openRepositoryByName } from '../repositories.js';
import type { Runtime } from '../runtime.js';
import { assertSelector } from '../selector.js';
import { sourceDataChecks } from './source-hooks.js';

/**
 * `verify [PIPELINE[@ID]] --from <repo> [--read] [--json]`: checks that each manifest is one restore
 * can follow (installed providers, consistent extensions) and re-reads the stored bytes against it.
 * Backups without an encrypting transform are decoded too (raw SHA-256 and size); `--read` decodes
 * encrypted ones with the passphrase.
 */
export function registerVerify(program: Command, runtime: Runtime): void {
  program
    .command('verify')
    .description(
      'check that backups are restorable: manifests, every stored byte, and the decoded bytes when no passphrase is needed (or with --read)',
    )
    .argument('[selector]', 'PIPELINE, PIPELINE@ID or PIPELINE@latest; default: every backup')
    .requiredOption('--from <repository>', 'repository path, URL or config name')
    .option('--read', 'also decrypt encrypted backups (asks for the passphrase) to check their raw hashes')
    .action(async (selector: string | undefined, _options: unknown, command: Command) => {
      runtime.flags = command.optsWithGlobals();
      assertSelector(selector);
      const ctx = runtime.context();
      const registry = await runtime.registry();
      const repository = await openRepositoryByName(runtime.flags.from as string, runtime);
      const [pipeline, id] = (selector ?? '').split('@');
      const scan = await repository.scan(ctx, pipeline || undefined);
      const backups = id ? [await repository.find(selector, ctx)] : scan.backups;
      const damaged = id ? [] : scan.damaged;
      const unreadable = id ? [] : scan.unreadable;
      // Data the backups depend on outside their folders (a WAL pipeline's archive continuity).
      const dataChecks = id ? [] : await sourceDataChecks(repository, runtime, pipeline || undefined);
      if (backups.length + damaged.length + unreadable.length + dataChecks.length === 0) {
        throw new NexusError(
          'NOT_FOUND',
          `no complete backup${pipeline ? ` of ${pipeline}` : ''} in ${repository.label}`,
        );
      }
      type Checked = BackupCheck & { leftOut: ReturnType<typeof manifestLeftOut> };
      const checks: Checked[] = [];
      for (const backup of backups) {
        const decrypt = Boolean(runtime.flags.read);
        checks.push({
          ...(await verifyRestorable(repository, backup, registry, ctx, { decrypt })),
          leftOut: manifestLeftOut(backup.manifest),
        });
      }
      for (const backup of damaged) {
        checks.push({
          pipeline: backup.pipeline,
          id: backup.id,
          ok: false,
          artifacts: [],
          problems: backup.problems,
          leftOut: [],
        });
      }
      for (const backup of unreadable) {
        checks.push({
          pipeline: backup.pipeline,
          id: backup.id,
          ok: false,
          artifacts: [],
          problems: [backup.error.message],
          leftOut: [],
        });
      }
      const failed =
        checks.filter((check) => !check.ok).length + dataChecks.filter((check) => !check.ok).length;
      if (runtime.flags.json) {
        printJson({ repository: repository.label, ok: failed === 0, backups: checks, data: dataChecks });
      } else {
        for (const check of checks) {
          const name = `${check.pipeline}@${check.id}`;
          for (const problem of check.problems ?? []) runtime.log.warn(`FAILED  ${name}: ${problem}`);
          for (const artifact of check.artifacts) {
            const line = `${name} ${artifact.file}`;
            if (artifact.ok) runtime.log.info(`ok      ${line}${check.raw ? ' (stored and raw)' : ''}`);
            else runtime.log.warn(`FAILED  ${line}: ${artifact.problem}`);
          }
          if (check.ok && !check.raw)
            runtime.log.info(`        ${name}: encrypted; raw hashes not checked (add --read to decrypt)`);
          // Intact bytes of an incomplete backup: say what it never held.
          if (check.leftOut.length > 0)
            runtime.log.warn(
              `${check.pipeline}@${check.id} is incomplete, not backed up: ${check.leftOut.map((gap) => `${gap.kind} ${gap.name}`).join('; ')}`,
            );
        }
        for (const check of dataChecks)
          for (const line of check.lines) {
            if (check.ok) runtime.log.info(line);
            else runtime.log.warn(line);
          }
        const data = dataChecks.length > 0 ? ` and ${dataChecks.length} archive(s)` : '';
        runtime.log.info(`${checks.length} backup(s)${data} checked, ${failed} failed`);
      }
      process.exitCode = failed > 0 ? EXIT.failed : EXIT.ok;
    });
}
