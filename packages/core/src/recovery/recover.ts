import type { HealthCheckConfig, NexusConfig, RecoveryConfig, RepositoryConfig } from '../config.js';
import type { RecoverySupport, RunContext, Source } from '../contracts.js';
import { NexusError, toNexusError } from '../errors.js';
import { defaultOptions, type OptionValues, resolveOptions } from '../options.js';
import type { ProviderRegistry } from '../registry.js';
import type { Repository } from '../repository.js';
import { loadDecodeStages, runRestore } from '../restore.js';
import { chooseBackup, parseRecoveryPoint } from './choose-backups.js';
import { readThrough } from './decode-check.js';
import {
  type JournalItem,
  JournalStore,
  type RecoveryJournal,
  type RecoveryPhase,
  recoveryStamp,
} from './journal.js';
import { describeCheck, runCommand, runHealthCheck } from './steps.js';

/** What `recover` needs from its caller: explicit inputs, so any program can run a recovery. */
export interface RecoveryEnvironment {
  config: NexusConfig;
  registry: ProviderRegistry;
  ctx: RunContext;
  env: NodeJS.ProcessEnv;
  openRepository(ref: RepositoryConfig): Promise<Repository>;
}

export interface RecoverOptions {
  /** `latest` (default), a backup id or a time. */
  at?: string;
  dryRun?: boolean;
  /** Overrides `recovery.rollbackOnFailure`. */
  rollbackOnFailure?: boolean;
}

export interface RecoveryStep {
  name: string;
  ok: boolean;
  ms: number;
  detail?: string;
}

export interface RecoveryReport {
  stamp: string;
  /** What happened: `recovered`, `planned` (dry run), `rolled back`, `failed`, `undone`, `resumed`. */
  outcome: 'recovered' | 'planned' | 'rolled back' | 'failed' | 'undone';
  ok: boolean;
  /** The step that failed, when one did. */
  failedStep?: string;
  error?: string;
  items: { pipeline: string; backupId: string; time: string; repository: string; live: string }[];
  steps: RecoveryStep[];
  warnings: string[];
  totalMs: number;
}

interface Item {
  pipeline: string;
  provider: string;
  source: Source;
  support: RecoverySupport;
  target: OptionValues;
}

/** Recovery with a clock per step: the measured recovery time objective. */
class Steps {
  readonly list: RecoveryStep[] = [];
  private readonly started = Date.now();
  constructor(private readonly ctx: RunContext) {}

  async run<T>(name: string, work: () => Promise<T>): Promise<T> {
    const started = Date.now();
    this.ctx.log.info(`${name} ...`);
    try {
      const result = await work();
      this.list.push({ name, ok: true, ms: Date.now() - started });
      return result;
    } catch (error) {
      const detail = toNexusError(error).message;
      this.list.push({ name, ok: false, ms: Date.now() - started, detail });
      throw new StepFailed(name, error);
    }
  }

  get totalMs(): number {
    return Date.now() - this.started;
  }
}

class StepFailed extends Error {
  constructor(
    readonly step: string,
    readonly original: unknown,
  ) {
    super(`${step}: ${toNexusError(original).message}`, { cause: original });
  }
}

function requireRecovery(config: NexusConfig): RecoveryConfig {
  if (!config.recovery) {
    throw new NexusError('CONFIG', `${config.file} has no recovery: section`, {
      hint: 'add recovery: { stop, start, restore, checks } (see docs/recovery.md)',
    });
  }
  return config.recovery;
}

/** Every restore item with its source, its live target and the source's swap support. */
async function resolveItems(environment: RecoveryEnvironment): Promise<Item[]> {
  const { config, registry, env } = environment;
  const recovery = requireRecovery(config);
  const items: Item[] = [];
  for (const entry of recovery.restore) {
    const pipeline = config.pipelines[entry.pipeline];
    if (!pipeline) throw new NexusError('CONFIG', `${entry.path}: no pipeline ${entry.pipeline}`);
    const definition = await registry.load('source', pipeline.source.use);
    const sourceOptions = resolveOptions(definition.options, {
      path: pipeline.source.path,
      provider: definition.name,
      values: pipeline.source.options,
      env,
    }) as Record<string, unknown>;
    // The live target is what the pipeline backs up (a postgres source's `db`), unless the item names it.
    const inherited = Object.fromEntries(
      Object.keys(definition.restoreOptions)
        .filter((name) => sourceOptions[name] !== undefined)
        .map((name) => [name, sourceOptions[name]]),
    );
    const target = resolveOptions(definition.restoreOptions, {
      path: entry.path,
      provider: definition.name,
      values: { ...inherited, ...entry.target },
      env,
    });
    const source = await definition.create(defaultOptions(definition.options));
    if (!source.recovery) {
      throw new NexusError(
        'CONFIG',
        `${entry.path}: the ${definition.name} source cannot restore in place for recover`,
        {
          hint: 'restore that pipeline by hand with nexus-backup restore',
        },
      );
    }
    source.recovery.describeLive(target); // a missing target (no db, no toDir) fails now, before any work
    items.push({
      pipeline: entry.pipeline,
      provider: definition.name,
      source,
      support: source.recovery,
      target,
    });
  }
  return items;
}

type Finish = (outcome: RecoveryReport['outcome'], failure?: StepFailed) => RecoveryReport;

/** Completes a report with its outcome, the failed step if any, and every step's time. */
function finisher(report: RecoveryReport, steps: Steps): Finish {
  return (outcome, failure) => {
    report.outcome = outcome;
    report.ok = outcome === 'recovered' || outcome === 'planned' || outcome === 'undone';
    if (failure) {
      report.failedStep = failure.step;
      report.error = toNexusError(failure.original).message;
    }
    report.steps = steps.list;
    report.totalMs = steps.totalMs;
    return report;
  };
}

function newReport(stamp: string): RecoveryReport {
  return { stamp, outcome: 'failed', ok: false, items: [], steps: [], warnings: [], totalMs: 0 };
}

/**
 * `nexus-backup recover`: choose one consistent set of verified backups, read each through (wrong
 * passphrase or damage fail here), restore each beside its live target while the service still runs,
 * stop the service, swap everything in (old state renamed aside, never deleted), start, check health,
 * and put the old state back if a check fails. A journal written before each step lets the next run
 * finish or revert whatever a kill interrupted.
 */
export async function runRecovery(
  environment: RecoveryEnvironment,
  options: RecoverOptions = {},
): Promise<RecoveryReport> {
  const { config, ctx } = environment;
  const recovery = requireRecovery(config);
  const store = new JournalStore(recovery.journalDir);
  const items = await resolveItems(environment);
  const interrupted = await store.current();
  if (interrupted && !options.dryRun) return resume(environment, items, store, interrupted, options);

  const stamp = recoveryStamp();
  const report = newReport(stamp);
  const steps = new Steps(ctx);
  const rollback = options.rollbackOnFailure ?? recovery.rollbackOnFailure;
  const at = parseRecoveryPoint(options.at);
  const finish = finisher(report, steps);

  let journal: RecoveryJournal | undefined;
  try {
    const chosen = await steps.run('choose backups', async () => {
      const list = [];
      for (const item of items) {
        list.push(
          await chooseBackup(config, item.pipeline, at, environment.openRepository, ctx, report.warnings),
        );
      }
      const times = list.map((choice) => choice.backup.time.getTime());
      const spread = Math.max(...times) - Math.min(...times);
      if (spread > recovery.maxSpreadMs) {
        report.warnings.push(
          `the chosen backups are ${Math.round(spread / 60_000)} minutes apart (more than recovery.maxSpread)`,
        );
      }
      return list;
    });
    report.items = chosen.map((choice, index) => ({
      pipeline: choice.pipeline,
      backupId: choice.backup.id,
      time: choice.backup.time.toISOString(),
      repository: choice.repository.label,
      live: (items[index] as Item).support.describeLive((items[index] as Item).target),
    }));
    if (options.dryRun) return finish('planned');

    await steps.run('verify and decrypt', async () => {
      for (const choice of chosen)
        await readThrough(choice.repository, choice.backup, environment.registry, ctx);
    });

    const planned: JournalItem[] = [];
    const besideTargets: OptionValues[] = [];
    for (const [index, item] of items.entries()) {
      const choice = chosen[index] as (typeof chosen)[number];
      const { besideTarget, swap } = await item.support.plan(item.target, stamp);
      besideTargets.push(besideTarget);
      planned.push({
        pipeline: item.pipeline,
        backupId: choice.backup.id,
        repository: choice.repository.label,
        provider: item.provider,
        live: item.support.describeLive(item.target),
        swap,
      });
    }
    journal = { stamp, startedAt: new Date().toISOString(), phase: 'staging', items: planned };
    await store.save(journal);

    try {
      for (const [index, item] of items.entries()) {
        const choice = chosen[index] as (typeof chosen)[number];
        await steps.run(
          `restore ${item.pipeline}@${choice.backup.id} beside ${planned[index]?.live}`,
          async () => {
            const stages = await loadDecodeStages(environment.registry, choice.backup.manifest.transforms);
            await runRestore(
              {
                repository: choice.repository,
                backup: choice.backup,
                source: item.source,
                stages,
                target: besideTargets[index] as OptionValues,
              },
              ctx,
            );
          },
        );
      }
      await setPhase(store, journal, 'stopping');
      await steps.run('stop the service', () => runCommands(recovery.stop, environment));
    } catch (error) {
      // Nothing was swapped: the live state is as it was. Remove what was staged and start again.
      await discardAll(items, journal, ctx);
      await restartAfterFailure(recovery, environment, steps);
      await store.finish({ ...journal, phase: 'abandoned' });
      return finish('failed', asStepFailed(error));
    }

    await setPhase(store, journal, 'swapping');
    await steps.run('swap in', () => swapAll(items, journal as RecoveryJournal, ctx, 'in'));
    await setPhase(store, journal, 'swapped');
    return await startAndCheck(environment, items, store, journal, steps, rollback, finish);
  } catch (error) {
    return finish('failed', asStepFailed(error));
  }
}

function asStepFailed(error: unknown): StepFailed {
  return error instanceof StepFailed ? error : new StepFailed('recover', error);
}

async function setPhase(store: JournalStore, journal: RecoveryJournal, phase: RecoveryPhase): Promise<void> {
  journal.phase = phase;
  await store.save(journal);
}

async function runCommands(commands: string[], environment: RecoveryEnvironment): Promise<void> {
  const recovery = requireRecovery(environment.config);
  for (const command of commands) {
    environment.ctx.log.info(`  $ ${command}`);
    const outcome = await runCommand(command, {
      cwd: environment.config.baseDir,
      timeoutMs: recovery.timeoutMs,
      log: environment.ctx.log,
      env: environment.env,
    });
    if (!outcome.ok) throw new NexusError('TARGET', `"${command}" ${outcome.problem}`);
  }
}

async function swapAll(
  items: Item[],
  journal: RecoveryJournal,
  ctx: RunContext,
  direction: 'in' | 'back',
): Promise<void> {
  for (const [index, item] of items.entries()) {
    const swap = journal.items[index]?.swap ?? {};
    if (direction === 'in') await item.support.swapIn(ctx, item.target, swap);
    else await item.support.swapBack(ctx, item.target, swap);
  }
}

async function discardAll(items: Item[], journal: RecoveryJournal, ctx: RunContext): Promise<void> {
  for (const [index, item] of items.entries()) {
    try {
      await item.support.discard(ctx, item.target, journal.items[index]?.swap ?? {});
    } catch (error) {
      ctx.log.warn(`could not remove what was staged for ${item.pipeline}: ${toNexusError(error).message}`);
    }
  }
}

async function restartAfterFailure(
  recovery: RecoveryConfig,
  environment: RecoveryEnvironment,
  steps: Steps,
): Promise<void> {
  if (recovery.start.length === 0) return;
  await steps
    .run('start the service again', () => runCommands(recovery.start, environment))
    .catch((error: unknown) => {
      environment.ctx.log.warn(`the service could not be started again: ${toNexusError(error).message}`);
    });
}

async function runChecks(environment: RecoveryEnvironment, items: Item[]): Promise<void> {
  const recovery = requireRecovery(environment.config);
  const { ctx } = environment;
  for (const check of recovery.checks) {
    const outcome = await runHealthCheck(check, {
      cwd: environment.config.baseDir,
      timeoutMs: recovery.timeoutMs,
      intervalMs: recovery.intervalMs,
      log: ctx.log,
      signal: ctx.signal,
      query: (sqlCheck) => querySql(sqlCheck, items, ctx),
    });
    if (!outcome.ok)
      throw new NexusError('TARGET', `health check ${describeCheck(check)} failed: ${outcome.problem}`);
    ctx.log.info(`  ok ${describeCheck(check)}`);
  }
}

function querySql(
  check: Extract<HealthCheckConfig, { kind: 'sql' }>,
  items: Item[],
  ctx: RunContext,
): Promise<boolean> {
  const item = items.find((candidate) =>
    check.pipeline ? candidate.pipeline === check.pipeline : candidate.support.query !== undefined,
  );
  if (!item?.support.query) {
    throw new NexusError('CONFIG', `${check.path}: no restored pipeline can run SQL checks`);
  }
  return item.support.query(ctx, item.target, check.sql);
}

async function startAndCheck(
  environment: RecoveryEnvironment,
  items: Item[],
  store: JournalStore,
  journal: RecoveryJournal,
  steps: Steps,
  rollback: boolean,
  finish: Finish,
): Promise<RecoveryReport> {
  const recovery = requireRecovery(environment.config);
  try {
    await steps.run('start the service', () => runCommands(recovery.start, environment));
    await steps.run('health checks', () => runChecks(environment, items));
  } catch (error) {
    const failure = asStepFailed(error);
    if (!rollback) {
      await store.finish({ ...journal, phase: 'done' });
      return finish('failed', failure);
    }
    await rollBack(environment, items, store, journal, steps);
    return finish('rolled back', failure);
  }
  await store.finish({ ...journal, phase: 'done' });
  return finish('recovered');
}

async function rollBack(
  environment: RecoveryEnvironment,
  items: Item[],
  store: JournalStore,
  journal: RecoveryJournal,
  steps: Steps,
): Promise<void> {
  const recovery = requireRecovery(environment.config);
  await steps
    .run('stop the service for rollback', () => runCommands(recovery.stop, environment))
    .catch(() => undefined);
  await setPhase(store, journal, 'rolling-back');
  await steps.run('swap the old state back', () => swapAll(items, journal, environment.ctx, 'back'));
  await store.finish({ ...journal, phase: 'rolled-back' });
  await steps
    .run('start the service on the old state', () => runCommands(recovery.start, environment))
    .catch(() => undefined);
}

/** A journal left by a run that was killed: finish or revert what it was doing, then report. */
async function resume(
  environment: RecoveryEnvironment,
  items: Item[],
  store: JournalStore,
  journal: RecoveryJournal,
  options: RecoverOptions,
): Promise<RecoveryReport> {
  const { ctx } = environment;
  const recovery = requireRecovery(environment.config);
  const steps = new Steps(ctx);
  const report = newReport(journal.stamp);
  report.items = journal.items.map((item) => ({
    pipeline: item.pipeline,
    backupId: item.backupId,
    time: '',
    repository: item.repository,
    live: item.live,
  }));
  const matched = matchItems(items, journal);
  report.warnings.push(`finishing the recovery ${journal.stamp} that stopped while ${journal.phase}`);
  const finish = finisher(report, steps);
  try {
    switch (journal.phase) {
      case 'staging':
      case 'stopping': {
        // Nothing was swapped: drop the staged copies; the operator runs recover again for a new attempt.
        await steps.run('remove what the interrupted run staged', () => discardAll(matched, journal, ctx));
        await restartAfterFailure(recovery, environment, steps);
        await store.finish({ ...journal, phase: 'abandoned' });
        return finish(
          'failed',
          new StepFailed(
            'resume',
            new NexusError(
              'ABORTED',
              'the interrupted recovery was abandoned before its swap; the live state is untouched; run recover again',
            ),
          ),
        );
      }
      case 'swapping':
      case 'swapped': {
        await steps.run('finish the swap', () => swapAll(matched, journal, ctx, 'in'));
        await setPhase(store, journal, 'swapped');
        const rollback = options.rollbackOnFailure ?? recovery.rollbackOnFailure;
        return await startAndCheck(environment, matched, store, journal, steps, rollback, finish);
      }
      case 'rolling-back':
      case 'undoing': {
        await steps.run('finish swapping the old state back', () => swapAll(matched, journal, ctx, 'back'));
        const phase = journal.phase === 'undoing' ? 'undone' : 'rolled-back';
        await store.finish({ ...journal, phase });
        await restartAfterFailure(recovery, environment, steps);
        return finish(phase === 'undone' ? 'undone' : 'rolled back');
      }
      default:
        await store.finish(journal);
        return finish(
          'failed',
          new StepFailed('resume', new NexusError('INTERNAL', `journal in phase ${journal.phase}`)),
        );
    }
  } catch (error) {
    return finish('failed', asStepFailed(error));
  }
}

/** The journal's items with today's config: a pipeline the config no longer restores cannot be resumed. */
function matchItems(items: Item[], journal: RecoveryJournal): Item[] {
  return journal.items.map((entry) => {
    const item = items.find(
      (candidate) => candidate.pipeline === entry.pipeline && candidate.provider === entry.provider,
    );
    if (!item) {
      throw new NexusError(
        'CONFIG',
        `the recovery journal ${journal.stamp} restores ${entry.pipeline}, which recovery.restore no longer lists`,
        {
          hint: 'put the pipeline back into recovery.restore to finish or undo that recovery',
        },
      );
    }
    return item;
  });
}

/** `recover --undo`: swaps back the state saved by the last finished recovery, then restarts and checks. */
export async function undoRecovery(environment: RecoveryEnvironment): Promise<RecoveryReport> {
  const recovery = requireRecovery(environment.config);
  const store = new JournalStore(recovery.journalDir);
  const items = await resolveItems(environment);
  const interrupted = await store.current();
  if (interrupted) return resume(environment, items, store, interrupted, {});
  const last = (await store.finished()).find((journal) => journal.phase === 'done');
  if (!last) {
    throw new NexusError('NOT_FOUND', `no finished recovery to undo in ${recovery.journalDir}`);
  }
  const steps = new Steps(environment.ctx);
  const report = newReport(last.stamp);
  report.items = last.items.map((item) => ({
    pipeline: item.pipeline,
    backupId: item.backupId,
    time: '',
    repository: item.repository,
    live: item.live,
  }));
  const matched = matchItems(items, last);
  try {
    await steps.run('stop the service', () => runCommands(recovery.stop, environment));
    const journal: RecoveryJournal = { ...last, phase: 'undoing' };
    await store.save(journal);
    await store.remove(last);
    await steps.run('swap the previous state back', () => swapAll(matched, journal, environment.ctx, 'back'));
    await store.finish({ ...journal, phase: 'undone' });
    await steps.run('start the service', () => runCommands(recovery.start, environment));
    await steps.run('health checks', () => runChecks(environment, matched));
    report.outcome = 'undone';
    report.ok = true;
  } catch (error) {
    const failure = asStepFailed(error);
    report.failedStep = failure.step;
    report.error = toNexusError(failure.original).message;
  }
  report.steps = steps.list;
  report.totalMs = steps.totalMs;
  return report;
}

/** `recover --forget-old`: deletes what finished recoveries moved aside. Returns what was removed. */
export async function forgetOldState(environment: RecoveryEnvironment, dryRun: boolean): Promise<string[]> {
  const recovery = requireRecovery(environment.config);
  const store = new JournalStore(recovery.journalDir);
  if (await store.current()) {
    throw new NexusError('TARGET', 'a recovery is still in progress; run recover to finish it first');
  }
  const items = await resolveItems(environment);
  const removed: string[] = [];
  for (const journal of await store.finished()) {
    const matched = matchItems(items, journal);
    for (const [index, item] of matched.entries()) {
      const swap = journal.items[index]?.swap ?? {};
      removed.push(...(await item.support.forget(environment.ctx, item.target, swap, dryRun)));
    }
    if (!dryRun) await store.remove(journal);
  }
  return removed;
}
