import {
  EXIT,
  type PruneOutcome,
  parseDuration,
  parseDurationMs,
  pruneRepository,
  RETENTION_COUNT_RULES,
  RETENTION_WITHIN_RULES,
  type RetentionPolicy,
  verifyRestorable,
} from '@nexus-backup/core';
import { type Command, Option } from 'commander';
import { printJson, printTable } from '../output.js';
import { openRepositoryByName } from '../repositories.js';
import type { Runtime } from '../runtime.js';
import { pruneSourceData } from './contributed.js';

const DEFAULT_GRACE = '24h';

/**
 * `prune [PIPELINE] --from <repo> --keep-last N --keep-daily N ... [--dry-run]`. Exit 1 when a damaged
 * backup was found or a pipeline has no backup that verifies (then none of its backups is removed).
 */
export function registerPrune(program: Command, runtime: Runtime): void {
  const command = program
    .command('prune')
    .description(
      'remove backups a retention policy no longer keeps, and leftovers of crashed runs; never the newest backup that verifies',
    )
    .argument('[pipeline]', 'only this pipeline (default: every pipeline, each with the same policy)')
    .requiredOption('--from <repository>', 'repository path, URL or config name');
  for (const rule of RETENTION_COUNT_RULES) {
    command.addOption(new Option(`--${kebab(rule)} <n>`, describeRule(rule)).argParser(parseCount));
  }
  for (const rule of RETENTION_WITHIN_RULES)
    command.addOption(new Option(`--${kebab(rule)} <duration>`, describeRule(rule)));
  command
    .option(
      '--grace <duration>',
      'folders without a manifest are kept while younger than this; a live lease always keeps one, a dead writer lease frees it at once',
      DEFAULT_GRACE,
    )
    .option('--dry-run', 'print the decision table and remove nothing')
    .action(async (pipeline: string | undefined) => {
      const parsed = command.optsWithGlobals();
      runtime.flags = parsed;
      const policy = policyFromFlags(parsed);
      const repository = await openRepositoryByName(parsed.from as string, runtime);
      const registry = await runtime.registry();
      const outcome = await pruneRepository(repository, policy, runtime.context(), {
        pipeline,
        graceMs: parseGrace(parsed.grace as string),
        dryRun: Boolean(parsed.dryRun),
        // Decode what needs no passphrase: an edited raw hash or an unknown provider is not "newest good".
        verify: (backup, ctx) => verifyRestorable(repository, backup, registry, ctx),
      });
      outcome.cleaned.push(...(await pruneSourceData(repository, runtime, Boolean(parsed.dryRun))));
      printPrune(outcome, runtime, Boolean(parsed.dryRun));
      process.exitCode = outcome.warnings.length > 0 ? EXIT.warnings : EXIT.ok;
    });
}

export { type PruneOutcome, pruneRepository } from '@nexus-backup/core';

export function printPrune(outcome: PruneOutcome, runtime: Runtime, dryRun: boolean): void {
  if (runtime.flags.json) {
    printJson({ ...outcome, dryRun });
    return;
  }
  printTable(
    ['PIPELINE', 'ID', 'TIME', 'ACTION', 'REASONS'],
    [
      ...outcome.decisions.map((d) => [d.pipeline, d.id, d.time, d.action, d.reasons.join(', ')]),
      ...outcome.damaged
        .filter((d) => !outcome.decisions.some((decision) => decision.id === d.id))
        .map((d) => [d.pipeline, d.id, d.time, 'keep damaged', d.problems.join('; ')]),
      ...outcome.leftovers.map((l) => [l.pipeline, l.id, '-', `${l.action} leftover`, l.reason]),
    ],
  );
  for (const line of outcome.cleaned) runtime.log.info(`${dryRun ? 'would clean' : 'cleaned'}: ${line}`);
  for (const line of outcome.staleLeases)
    runtime.log.info(`${dryRun ? 'would remove' : 'removed'} stale lease ${line}`);
  for (const warning of outcome.warnings) runtime.log.warn(warning);
  const removed = outcome.decisions.filter((d) => d.action === 'remove').length;
  runtime.log.info(
    `${dryRun ? 'dry run: would remove' : 'removed'} ${removed} backup(s) from ${outcome.repository}`,
  );
}

function policyFromFlags(parsed: Record<string, unknown>): RetentionPolicy {
  const policy: Record<string, unknown> = {};
  for (const rule of RETENTION_COUNT_RULES) if (parsed[rule] !== undefined) policy[rule] = parsed[rule];
  for (const rule of RETENTION_WITHIN_RULES)
    if (parsed[rule] !== undefined) policy[rule] = parseDuration(parsed[rule] as string);
  return policy as RetentionPolicy;
}

function parseCount(value: string): number {
  const count = Number(value);
  // Number() reads "" as 0 and "0x10" as 16: only digits are a count.
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(count) || count < -1) {
    throw new Error(`expected a whole number (or -1 for unlimited), got "${value}"`);
  }
  return count;
}

function kebab(rule: string): string {
  return rule.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

function describeRule(rule: string): string {
  const period = rule.replace(/^keep(Within)?/, '').toLowerCase();
  if (rule === 'keepLast') return 'keep the N newest backups';
  if (rule === 'keepWithin') return 'keep every backup within this duration of the newest (e.g. 2d, 1y2m)';
  if (rule.startsWith('keepWithin'))
    return `keep the newest ${period} backup of each period within this duration`;
  return `keep the newest backup of each of the last N ${period} periods (-1: all)`;
}

/** `--grace 0` (or `0s`) is meaningful here: remove every leftover now, e.g. after a known crash. */
function parseGrace(value: string): number {
  return /^0+[a-z]*$/i.test(value.trim()) ? 0 : parseDurationMs(value);
}
