import { EXIT, formatBytes, NexusError, type PipelineConfig, toNexusError } from '@nexus-backup/core';
import type { Cron } from 'croner';
import { checkRepository, describeCheck } from './check-repository.js';
import { scheduledDrill } from './drill-schedule.js';
import type { EventLog } from './event-log.js';
import type { RunHooks } from './hooks.js';
import { notifyAll } from './notify.js';
import { openRepository } from './open-repository.js';
import { pipelineRepositories, runPipeline } from './pipeline.js';
import { formatDuration } from './run-message.js';
import type { RunRecord } from './run-record.js';
import type { OpsServices } from './services.js';

export interface SchedulerOptions {
  /** Pipelines with `schedule:`: each runs (backup, retention, `check:`) on its cron expression. */
  pipelines: PipelineConfig[];
  /** Pipelines with `drill.schedule`: their latest backup is drilled then (see drill-schedule.ts). */
  drills?: PipelineConfig[];
  /** Notifications and history of every run and drill; check problems go to the notifiers too. */
  hooks: RunHooks;
  services: OpsServices;
  log: EventLog;
}

/**
 * Runs each pipeline on its cron schedule until the services' signal aborts (SIGTERM/SIGINT). A
 * pipeline never overlaps itself: a tick that finds the previous run still going is skipped and
 * logged. On shutdown no new run starts; the run in flight sees the same abort signal, so the core
 * engine stops it and removes its partial output, and this resolves once it has.
 */
export async function runScheduler(options: SchedulerOptions): Promise<void> {
  const { services, log } = options;
  const signal = services.signal;
  // Loaded only here: `nexus-backup --help` and every other command never load croner.
  const { Cron } = await import('croner');
  const running = new Map<string, Promise<void>>();

  const trigger = (pipeline: PipelineConfig) => {
    if (signal.aborted) return;
    if (running.has(pipeline.name)) {
      log(
        'run-skipped',
        { pipeline: pipeline.name },
        `${pipeline.name}: skipped, the previous run is still going`,
        'warning',
      );
      return;
    }
    const run = runOnce(pipeline, options).finally(async () => {
      running.delete(pipeline.name);
      // Each run opens its repositories (SSH sessions, S3 agents); a long-lived scheduler closes them
      // whenever no run is in flight, instead of holding one more set per run until it exits.
      if (running.size === 0) await services.closeAll?.();
    });
    running.set(pipeline.name, run);
  };

  const cron = (expression: string, where: string, run: () => void): Cron => {
    try {
      return new Cron(expression, { paused: true }, run);
    } catch (error) {
      throw new NexusError(
        'CONFIG',
        `${where} "${expression}" is not a cron expression: ${(error as Error).message}`,
        {
          hint: 'use 5 fields (minute hour day month weekday) or 6 with seconds first, e.g. "0 2 * * *"',
        },
      );
    }
  };
  const jobs: Cron[] = options.pipelines.map((pipeline) =>
    cron(pipeline.schedule as string, `${pipeline.path}.schedule`, () => trigger(pipeline)),
  );
  const drillJobs = (options.drills ?? []).map((pipeline) => {
    const schedule = pipeline.drill?.schedule as string;
    return cron(schedule, `${pipeline.path}.drill.schedule`, () => {
      // A drill never overlaps itself, but may run beside its pipeline's backup (it only reads).
      const key = `drill:${pipeline.name}`;
      if (signal.aborted) return;
      if (running.has(key)) {
        log(
          'drill-skipped',
          { pipeline: pipeline.name },
          `${pipeline.name}: drill skipped, the previous one is still going`,
          'warning',
        );
        return;
      }
      const run = scheduledDrill(pipeline, services, options.hooks, log).finally(async () => {
        running.delete(key);
        if (running.size === 0) await services.closeAll?.();
      });
      running.set(key, run);
    });
  });
  const stopped = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  jobs.forEach((job, index) => {
    const pipeline = options.pipelines[index] as PipelineConfig;
    job.resume();
    const next = job.nextRun()?.toISOString() ?? null;
    log(
      'scheduled',
      { pipeline: pipeline.name, schedule: pipeline.schedule, next },
      `${pipeline.name}: scheduled "${pipeline.schedule}", next run ${next ?? 'never'}`,
    );
  });
  drillJobs.forEach((job, index) => {
    const pipeline = (options.drills ?? [])[index] as PipelineConfig;
    job.resume();
    const next = job.nextRun()?.toISOString() ?? null;
    const schedule = pipeline.drill?.schedule;
    log(
      'drill-scheduled',
      { pipeline: pipeline.name, schedule, next },
      `${pipeline.name}: restore drill scheduled "${schedule}", next drill ${next ?? 'never'}`,
    );
  });

  await stopped;
  for (const job of [...jobs, ...drillJobs]) job.stop();
  const inFlight = [...running.keys()];
  log(
    'stopping',
    { running: inFlight },
    inFlight.length > 0
      ? `stopping: aborting the run of ${inFlight.join(', ')}`
      : 'stopping: no run in flight',
  );
  await Promise.allSettled(running.values());
  log('stopped', {}, 'scheduler stopped');
}

/** One scheduled run: the pipeline (backup, notifications, history, retention), then its check, then one `run-finished`. */
async function runOnce(pipeline: PipelineConfig, options: SchedulerOptions): Promise<void> {
  const { services, log } = options;
  log('run-started', { pipeline: pipeline.name }, `${pipeline.name}: run started`);
  let record: RunRecord | undefined;
  let exitCode: number;
  try {
    const run = await runPipeline(pipeline, services, { hooks: options.hooks });
    record = run.backup.record;
    exitCode = run.exitCode;
    if (run.backup.error) services.log.warn(`pipeline ${pipeline.name} failed: ${run.backup.error.message}`);
  } catch (error) {
    exitCode = toNexusError(error).exitCode;
  }
  // The check belongs to the run: `run-finished` comes last, so a tick during the check is a skip too.
  if (pipeline.check && !services.signal.aborted) await runCheck(pipeline, options);
  logFinished(pipeline, exitCode, record, log, services.signal.aborted);
}

function logFinished(
  pipeline: PipelineConfig,
  exitCode: number,
  record: RunRecord | undefined,
  log: EventLog,
  interrupted: boolean,
): void {
  const status =
    record?.status ?? (exitCode === EXIT.ok ? 'success' : exitCode === EXIT.warnings ? 'warning' : 'failure');
  const fields = {
    pipeline: pipeline.name,
    status,
    exitCode,
    backupId: record?.backupId ?? null,
    bytes: record?.bytes ?? null,
    durationMs: record?.durationMs ?? null,
    ...(record?.error ? { error: record.error } : {}),
    ...(interrupted ? { interrupted: true } : {}),
    ...(record?.warnings.length ? { warnings: record.warnings } : {}),
  };
  const facts = record?.backupId
    ? ` ${record.backupId}, ${formatBytes(record.bytes ?? 0)} in ${formatDuration(record.durationMs)}`
    : record?.error
      ? `: ${record.error}`
      : '';
  const level = status === 'success' && exitCode === EXIT.ok ? 'info' : 'warning';
  const how = interrupted ? 'interrupted by shutdown' : `${status}, exit ${exitCode}`;
  log('run-finished', fields, `${pipeline.name}: run finished (${how})${facts}`, level);
}

/** The pipeline's `check:` against each repository it writes to; problems go to the config's notifiers. */
async function runCheck(pipeline: PipelineConfig, options: SchedulerOptions): Promise<void> {
  const { services, log } = options;
  const policy = { ...pipeline.check };
  for (const target of pipelineRepositories(pipeline)) {
    const { label } = target;
    try {
      const repository = await openRepository(target, services);
      const report = await checkRepository(
        repository,
        [{ name: pipeline.name, policy }],
        services.context(),
        {
          now: services.now(),
        },
      );
      const problems = report.problems.map((problem) => problem.message);
      log(
        'check',
        { pipeline: pipeline.name, repository: label, ok: report.ok, problems },
        report.ok
          ? `${pipeline.name}: check ok in ${label}`
          : `${pipeline.name}: check failed in ${label}: ${problems.join('; ')}`,
        report.ok ? 'info' : 'warning',
      );
      if (!report.ok) {
        const failures = await notifyAll(options.hooks.notifiers, {
          event: 'failure',
          text: describeCheck(report),
        });
        for (const failure of failures)
          log('notify-failed', { host: failure.host }, `notification failed: ${failure.message}`, 'warning');
      }
    } catch (error) {
      const message = toNexusError(error).message;
      log(
        'check',
        { pipeline: pipeline.name, repository: label, ok: false, problems: [message] },
        `${pipeline.name}: check of ${label} failed: ${message}`,
        'warning',
      );
    }
  }
}
