import {
  decideRetention,
  EXIT,
  parseDuration,
  parseDurationMs,
  RETENTION_COUNT_RULES,
  RETENTION_WITHIN_RULES,
  type Repository,
  type RetentionPolicy,
  type RunContext,
} from '@nexus-backup/core';
import { type Command, Option } from 'commander';
import { printJson, printTable } from '../output.js';
import { openRepositoryByName } from '../repositories.js';
import type { Runtime } from '../runtime.js';
import { pruneSourceData } from './contributed.js';

const DEFAULT_GRACE = '24h';

/** `prune [PIPELINE] --from <repo> --keep-last N --keep-daily N ... [--dry-run]` */
export function registerPrune(program: Command, runtime: Runtime): void {
  const command = program
    .command('prune')
    .description('remove backups a retention policy no longer keeps, and leftovers of crashed runs')
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
      'leftovers of crashed or running backups younger than this are kept',
      DEFAULT_GRACE,
    )
    .option('--dry-run', 'print the decision table and remove nothing')
    .action(async (pipeline: string | undefined) => {
      const parsed = command.optsWithGlobals();
      runtime.flags = parsed;
      const policy = policyFromFlags(parsed);
      const repository = await openRepositoryByName(parsed.from as string, runtime);
      const outcome = await pruneRepository(repository, policy, runtime.context(), {
        pipeline,
        graceMs: parseGrace(parsed.grace as string),
        dryRun: Boolean(parsed.dryRun),
      });
      outcome.cleaned.push(...(await pruneSourceData(repository, runtime, Boolean(parsed.dryRun))));
      printPrune(outcome, runtime, Boolean(parsed.dryRun));
      process.exitCode = EXIT.ok;
    });
}

export interface PruneOutcome {
  repository: string;
  decisions: { pipeline: string; id: string; time: string; action: 'keep' | 'remove'; reasons: string[] }[];
  leftovers: { pipeline: string; id: string; action: 'keep' | 'remove'; reason: string }[];
  cleaned: string[];
}

/** Applies a policy per pipeline; the newest complete backup of each pipeline is always kept. */
export async function pruneRepository(
  repository: Repository,
  policy: RetentionPolicy,
  ctx: RunContext,
  options: { pipeline?: string | undefined; graceMs: number; dryRun: boolean },
): Promise<PruneOutcome> {
  const now = new Date();
  const scan = await repository.scan(ctx, options.pipeline);
  const outcome: PruneOutcome = { repository: repository.label, decisions: [], leftovers: [], cleaned: [] };
  const pipelines = [...new Set(scan.backups.map((backup) => backup.pipeline))];
  for (const pipeline of pipelines) {
    const backups = scan.backups.filter((backup) => backup.pipeline === pipeline);
    const decisions = decideRetention(
      backups.map((backup) => ({ id: backup.id, time: backup.time, complete: true })),
      policy,
      now,
    );
    for (const decision of decisions) {
      outcome.decisions.push({
        pipeline,
        id: decision.id,
        time: decision.time.toISOString(),
        action: decision.action,
        reasons: decision.reasons,
      });
      if (decision.action === 'remove' && !options.dryRun)
        await repository.deleteBackup(pipeline, decision.id, ctx);
    }
  }
  for (const leftover of scan.leftovers) {
    const ageMs = now.getTime() - leftover.newest.getTime();
    const old = ageMs >= options.graceMs;
    outcome.leftovers.push({
      pipeline: leftover.pipeline,
      id: leftover.id,
      action: old ? 'remove' : 'keep',
      reason: old ? 'no manifest: a crashed run' : 'no manifest yet: may still be running (within --grace)',
    });
    if (old && !options.dryRun) await repository.deleteKeys(leftover.keys, ctx);
  }
  const cleanup = repository.destination.cleanup;
  if (cleanup)
    outcome.cleaned = await cleanup.call(
      repository.destination,
      new Date(now.getTime() - options.graceMs),
      ctx,
      options.dryRun,
    );
  return outcome;
}

export function printPrune(outcome: PruneOutcome, runtime: Runtime, dryRun: boolean): void {
  if (runtime.flags.json) {
    printJson({ ...outcome, dryRun });
    return;
  }
  printTable(
    ['PIPELINE', 'ID', 'TIME', 'ACTION', 'REASONS'],
    [
      ...outcome.decisions.map((d) => [d.pipeline, d.id, d.time, d.action, d.reasons.join(', ')]),
      ...outcome.leftovers.map((l) => [l.pipeline, l.id, '-', `${l.action} leftover`, l.reason]),
    ],
  );
  for (const line of outcome.cleaned) runtime.log.info(`${dryRun ? 'would clean' : 'cleaned'}: ${line}`);
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
  if (!Number.isInteger(count) || count < -1) {
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
