import {
  EXIT,
  forgetOldState,
  NexusError,
  type RecoveryEnvironment,
  type RecoveryReport,
  runRecovery,
  undoRecovery,
} from '@nexus-backup/core';
import type { Command } from 'commander';
import { printJson } from '../output.js';
import { openRepository, resolveRepositoryRef } from '../repositories.js';
import type { Runtime } from '../runtime.js';

/** `recover [--at latest|ID|TIME] [--dry-run] [--undo] [--forget-old --yes]`: the config's `recovery:` plan. */
export function registerRecover(program: Command, runtime: Runtime): void {
  const command = program
    .command('recover')
    .description(
      "disaster recovery from the config's recovery: plan: restore beside, stop, swap in, start, health-check (rolled back on failure)",
    )
    .option('--at <when>', 'latest (default), a backup id, or a time such as "2026-12-01 03:00" (UTC)')
    .option('--dry-run', 'choose and show the backups and steps, change nothing')
    .option('--undo', 'swap back the state saved by the last finished recovery')
    .option(
      '--forget-old',
      'delete the databases and folders earlier recoveries moved aside (asks for --yes)',
    )
    .option('--yes', 'with --forget-old: really delete')
    .option('--no-rollback-on-failure', 'keep the recovered state even when a health check fails');
  command.action(async () => {
    const parsed = command.optsWithGlobals();
    runtime.flags = parsed;
    const config = await runtime.config(true);
    if (!config) return;
    const environment: RecoveryEnvironment = {
      config,
      registry: await runtime.registry(),
      ctx: runtime.context(),
      env: runtime.env,
      openRepository: async (ref) =>
        openRepository(await resolveRepositoryRef(ref.name ?? ref.url, runtime), runtime),
    };
    if (parsed.forgetOld) {
      const removed = await forgetOldState(environment, parsed.yes !== true);
      if (parsed.json) printJson({ removed, deleted: parsed.yes === true });
      else if (removed.length === 0) runtime.log.info('nothing left aside by earlier recoveries');
      else {
        for (const item of removed) runtime.log.info(`${parsed.yes ? 'deleted' : 'would delete'} ${item}`);
        if (!parsed.yes) runtime.log.info('run again with --yes to delete these');
      }
      process.exitCode = EXIT.ok;
      return;
    }
    if (parsed.undo && (parsed.at || parsed.dryRun)) {
      throw new NexusError('USAGE', '--undo takes no --at or --dry-run');
    }
    const report = parsed.undo
      ? await undoRecovery(environment)
      : await runRecovery(environment, {
          ...(parsed.at ? { at: String(parsed.at) } : {}),
          dryRun: parsed.dryRun === true,
          rollbackOnFailure: parsed.rollbackOnFailure !== false,
        });
    printReport(report, runtime);
    const { reportRecovery } = await import('@nexus-backup/ops');
    let exit: number = report.ok ? (report.warnings.length > 0 ? EXIT.warnings : EXIT.ok) : EXIT.failed;
    if (
      report.outcome !== 'planned' &&
      !(await reportRecovery(report, await runtime.services(), await runtime.hooks()))
    )
      exit = Math.max(exit, EXIT.warnings);
    process.exitCode = exit;
  });
}

function printReport(report: RecoveryReport, runtime: Runtime): void {
  if (runtime.flags.json) {
    printJson(report);
    return;
  }
  const log = runtime.log;
  for (const warning of report.warnings) log.warn(warning);
  for (const item of report.items) {
    const time = item.time ? ` (${item.time})` : '';
    log.info(`${item.pipeline}@${item.backupId}${time} from ${item.repository} -> ${item.live}`);
  }
  if (report.outcome === 'planned') {
    log.info(
      'dry run: would verify and decrypt these, restore each beside its live target, stop the service,',
    );
    log.info(
      'swap them in (old state kept as *_before_recovery_*), start the service and run the health checks',
    );
    return;
  }
  for (const step of report.steps) {
    log.info(
      `${step.ok ? 'ok    ' : 'FAILED'} ${step.name} (${(step.ms / 1000).toFixed(1)} s)${step.detail ? `: ${step.detail}` : ''}`,
    );
  }
  const total = `${(report.totalMs / 1000).toFixed(1)} s`;
  if (report.ok) log.info(`${report.outcome} in ${total} (recovery ${report.stamp})`);
  else log.warn(`recovery ${report.outcome} at step "${report.failedStep}" after ${total}: ${report.error}`);
}
