import {
  type BackupEntry,
  type DecodeStage,
  defaultOptions,
  EXIT,
  incompleteWarnings,
  NexusError,
  type OptionsSpec,
  resolveOptions,
  runRestore,
  verifyRestorable,
} from '@nexus-backup/core';
import type { Command } from 'commander';
import { printJson, printLines } from '../output.js';
import { addDeclaredOptions, pickDeclaredValues } from '../provider-flags.js';
import { openRepositoryByName } from '../repositories.js';
import type { Runtime } from '../runtime.js';
import { assertSelector } from '../selector.js';
import { installedRestoreOptions, loadManifestProvider } from './restore-options.js';

/** Flags of the command itself, never taken for a source's target option of the same name. */
const COMMAND_FLAGS: ReadonlySet<string> = new Set(['from', 'dryRun']);

/** `restore [PIPELINE[@ID|@latest]] --from <repo> [target options] [--dry-run]` */
export async function registerRestore(
  program: Command,
  runtime: Runtime,
  loadProviders: boolean,
): Promise<void> {
  const command = program
    .command('restore')
    .description(
      'restore a backup; the target is left as it was if anything fails (checksums are checked as bytes flow)',
    )
    .argument('[selector]', 'PIPELINE, PIPELINE@latest or PIPELINE@ID (default: the only pipeline, latest)')
    .requiredOption('--from <repository>', 'repository path, URL or config name')
    .option('--dry-run', 'verify the stored backup and show what would be restored, without writing');
  // Target options depend on the backup's source; offer those of every installed source, check against the real one.
  // A source may declare a target option the command already has (postgres' dryRun for `copy`): keep the command's.
  if (loadProviders)
    addDeclaredOptions(command, await installedRestoreOptions(runtime), new Set(COMMAND_FLAGS)); // a copy: addDeclaredOptions adds what it declares
  command.action(async (selector: string | undefined) => {
    const parsed = command.optsWithGlobals();
    runtime.flags = parsed;
    assertSelector(selector);
    const ctx = runtime.context();
    const repository = await openRepositoryByName(parsed.from as string, runtime);
    // `@latest` takes the newest intact backup; every newer one it passes over is named (exit 1).
    let { backup, skipped } = await repository.select(selector, ctx);
    for (const passed of skipped)
      runtime.log.warn(
        `skipped the newer backup ${passed.id}: ${passed.reason}; restoring ${backup.pipeline}@${backup.id} instead`,
      );
    const skippedExit = skipped.length > 0 ? EXIT.warnings : EXIT.ok;
    const registry = await runtime.registry();
    let where = `${backup.pipeline}@${backup.id}`;
    const definition = await loadManifestProvider(registry, 'source', backup.manifest.source.provider, where);
    // First: `--to-file` on a files backup is a wrong flag, not a missing `--to-dir`.
    rejectForeignTargetOptions(
      parsed,
      definition.restoreOptions,
      await installedRestoreOptions(runtime),
      definition.name,
    );
    const target = resolveOptions(definition.restoreOptions, {
      path: `restore ${definition.name}`,
      provider: definition.name,
      values: pickDeclaredValues(definition.restoreOptions, parsed),
      env: runtime.env,
      fromCli: true,
    }) as Record<string, unknown>;
    // The source may pick another backup of the pipeline for this target (pgbase: one that ended before it).
    if (definition.chooseRestoreBackup) {
      const pinned = /@(?!latest$)/.test(selector ?? '');
      const candidates = (await repository.scan(ctx, backup.pipeline)).backups;
      const choice = definition.chooseRestoreBackup(candidates, backup, target, pinned);
      if (choice.note) runtime.log.info(choice.note);
      backup = choice.backup;
      where = `${backup.pipeline}@${backup.id}`;
    }
    if (parsed.dryRun) {
      process.exitCode = Math.max(await dryRun(backup, target, runtime, repository), skippedExit);
      return;
    }
    const stages: DecodeStage[] = [];
    for (const transform of backup.manifest.transforms) {
      const transformDefinition = await loadManifestProvider(
        registry,
        'transform',
        transform.provider,
        where,
      );
      stages.push({
        definition: transformDefinition,
        transform: await transformDefinition.create(defaultOptions(transformDefinition.options)),
      });
    }
    const source = await definition.create(defaultOptions(definition.options));
    // -v: what each stage does (the logger redacts the target's URLs).
    const decoders = stages.map((stage) => stage.definition.name).reverse();
    runtime.log.debug(
      `restore ${where}: read from ${repository.label}, decode ${decoders.join(', then ') || '(nothing)'}, ${definition.name} into ${JSON.stringify(target)}`,
    );
    const started = performance.now();
    const report = await runRestore({ repository, backup, source, stages, target }, ctx);
    runtime.log.debug(`restore ${where} took ${((performance.now() - started) / 1000).toFixed(2)} s`);
    // A backup made with --allow-incomplete restores what it holds; the rest is named, and exit is 1.
    const warnings = [
      ...new Set([
        ...(report.warnings ?? []),
        ...backup.manifest.artifacts.flatMap((artifact) => incompleteWarnings(artifact.name, artifact.meta)),
      ]),
    ];
    for (const warning of warnings) runtime.log.warn(warning);
    if (parsed.json)
      printJson({
        pipeline: backup.pipeline,
        id: backup.id,
        lines: report.lines,
        details: report.details ?? null,
        warnings,
      });
    else {
      runtime.log.info(`restored ${backup.pipeline}@${backup.id} from ${repository.label}`);
      printLines(report.lines);
    }
    process.exitCode = Math.max(skippedExit, warnings.length > 0 ? EXIT.warnings : EXIT.ok);
  });
}

/** `--create-db` on a files backup is a mistake worth saying, not something to ignore. */
function rejectForeignTargetOptions(
  parsed: Record<string, unknown>,
  own: OptionsSpec,
  all: OptionsSpec,
  source: string,
): void {
  // The command's own flags (--from, --dry-run) may share a name with a source's target option
  // (postgres' dryRun for copy, pgbase's from for its restore_command).
  const foreign = Object.keys(all).filter(
    (name) => !(name in own) && !COMMAND_FLAGS.has(name) && parsed[name] !== undefined,
  );
  if (foreign.length > 0) {
    const flags = foreign
      .map((name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`)
      .join(', ');
    const accepted = Object.keys(own).map(
      (name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
    );
    throw new NexusError('USAGE', `${flags} does not apply to a ${source} backup`, {
      hint: `its target options are: ${accepted.join(', ') || '(none)'}`,
    });
  }
}

async function dryRun(
  backup: BackupEntry,
  target: Record<string, unknown>,
  runtime: Runtime,
  repository: Awaited<ReturnType<typeof openRepositoryByName>>,
): Promise<number> {
  // Decoded as the restore would, so a wrong passphrase fails the dry run, not the real one.
  const check = await verifyRestorable(repository, backup, await runtime.registry(), runtime.context(), {
    decrypt: true,
  });
  const plan = {
    pipeline: backup.pipeline,
    id: backup.id,
    source: backup.manifest.source.provider,
    transforms: backup.manifest.transforms.map((transform) => transform.provider),
    target,
    artifacts: check.artifacts,
    ...(check.problems?.length ? { problems: check.problems } : {}),
    ok: check.ok,
  };
  if (runtime.flags.json) printJson(plan);
  else {
    runtime.log.info(
      `dry run: would restore ${backup.pipeline}@${backup.id} (${plan.source}) into ${JSON.stringify(target)}`,
    );
    for (const problem of check.problems ?? []) runtime.log.info(`FAILED ${problem}`);
    for (const artifact of check.artifacts) {
      runtime.log.info(
        `${artifact.ok ? 'ok    ' : 'FAILED'} ${artifact.file}${artifact.problem ? `: ${artifact.problem}` : ''}`,
      );
    }
  }
  return check.ok ? EXIT.ok : EXIT.failed;
}
