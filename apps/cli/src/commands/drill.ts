import { EXIT, formatBytes, type NexusConfig, NexusError } from '@nexus-backup/core';
import type { DrillTarget, ObservedDrill } from '@nexus-backup/ops';

type Ops = typeof import('@nexus-backup/ops');

import type { Command } from 'commander';
import { printJson, printLines } from '../output.js';
import { resolveRepositoryRef } from '../repositories.js';
import type { Runtime } from '../runtime.js';

/**
 * `drill [PIPELINE[@ID]...] --from REPO [--db URL] [--check SQL]...` or `drill [PIPELINE...] --config FILE`:
 * restore into a scratch database or folder, compare with what the backup recorded, remove it again.
 */
export function registerDrill(program: Command, runtime: Runtime): void {
  program
    .command('drill')
    .description(
      'restore drill: restore a backup into a scratch database (or temp folder), check it against what the backup recorded, then remove it; exit 2 with what differed',
    )
    .argument(
      '[selectors...]',
      "PIPELINE, PIPELINE@ID or PIPELINE@latest (default with --from: the repository's only pipeline; with --config alone: every postgres, files and credentials pipeline)",
    )
    .option(
      '--from <repository>',
      "repository path, URL or config name (default with --config: each pipeline's first repository)",
    )
    .option(
      '--db <url>',
      "postgres: a server URL to create the scratch database on; the user needs CREATEDB (default: the pipeline's drill.db, then its source db, then DATABASE_URL)",
    )
    .option(
      '--check <sql>',
      'postgres: a query the restored copy must answer with true, e.g. "select count(*) > 0 from orders" (repeatable)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .action(async (selectors: string[], _options: unknown, command: Command) => {
      const flags = command.optsWithGlobals();
      runtime.flags = flags;
      const ops = await import('@nexus-backup/ops');
      const targets = await drillTargets(selectors, flags, runtime, ops);
      let exitCode: number = EXIT.ok;
      const reports: ObservedDrill[] = [];
      const services = await runtime.services();
      const hooks = await runtime.hooks();
      for (const target of targets) {
        if (runtime.abort.signal.aborted) break;
        const observed = await ops.drillBackup(target, services, hooks);
        reports.push(observed);
        if (!flags.json) printDrill(observed, ops);
        exitCode = Math.max(exitCode, ops.drillExitCode(observed));
      }
      if (flags.json) printJson({ drills: reports.map(drillJson) });
      process.exitCode = exitCode;
    });
}

async function drillTargets(
  selectors: string[],
  flags: Record<string, unknown>,
  runtime: Runtime,
  ops: Ops,
): Promise<DrillTarget[]> {
  const common = {
    ...(typeof flags.db === 'string' ? { db: flags.db } : {}),
    checks: (flags.check as string[] | undefined) ?? [],
  };
  const config = await runtime.config();
  if (!config && flags.from === undefined) {
    throw new NexusError('USAGE', 'nothing to drill: no --from and no config file', {
      hint: 'pass --from REPOSITORY (and --db URL for a postgres backup), or --config FILE to drill its pipelines',
    });
  }
  // Resolved before the chdir below: a relative --from means relative to where the user is.
  const repository =
    typeof flags.from === 'string' ? await resolveRepositoryRef(flags.from, runtime) : undefined;
  // Relative paths in a config file (`dir: ./credentials`) mean relative to that file, as for `run`.
  if (config) process.chdir(config.baseDir);
  if (repository) {
    return (selectors.length > 0 ? selectors : [undefined]).map((selector) => {
      const pipeline = selector ? config?.pipelines[selector.split('@')[0] ?? ''] : undefined;
      return { selector, repository, ...(pipeline ? { pipeline } : {}), ...common };
    });
  }
  const pipelines = await ops.pipelinesToDrill(config as NexusConfig, selectors, await runtime.services());
  return pipelines.map((pipeline) => ops.latestBackupTarget(pipeline, common));
}

function printDrill(observed: ObservedDrill, ops: Ops): void {
  const { drillProblems, formatDuration } = ops;
  const { record, result, error } = observed;
  const name = `${record.pipeline}${record.backupId ? `@${record.backupId}` : ''}`;
  if (error || !result) {
    // The message with its hint (what to fix), without the tool prefix the FAIL column replaces.
    printLines([`FAIL  ${name}: ${error?.format().replace(/^\[nexus-backup\] /, '') ?? 'unknown error'}`]);
    return;
  }
  const lines: string[] = [];
  const facts = `restored ${formatBytes(result.bytesRestored)} in ${formatDuration(result.restoreMs)}, ${result.facts.join(', ')}`;
  if (result.ok) {
    lines.push(`ok    ${name}: ${facts}, ${result.checks.length} check(s) matched`);
  } else {
    lines.push(`FAIL  ${name}: ${facts}; ${drillProblems(result).length} check(s) differ`);
    for (const problem of drillProblems(result)) lines.push(`      ${problem}`);
  }
  for (const note of result.notes) lines.push(`      note: ${note}`);
  printLines(lines);
}

function drillJson(observed: ObservedDrill): Record<string, unknown> {
  const { record, result, error } = observed;
  return {
    pipeline: record.pipeline,
    backupId: record.backupId ?? null,
    repository: record.destinations[0]?.repository ?? null,
    ok: record.status === 'success',
    error: record.error ?? null,
    ...(result
      ? {
          source: result.source,
          restoreMs: result.restoreMs,
          bytesRestored: result.bytesRestored,
          durationMs: record.durationMs,
          facts: result.facts,
          notes: result.notes,
          checks: result.checks,
        }
      : { code: error?.code ?? null }),
  };
}
