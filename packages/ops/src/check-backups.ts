import {
  type NexusConfig,
  NexusError,
  type NotifyConfig,
  type PipelineConfig,
  type Repository,
  type RunContext,
  type SourceCheckMetric,
} from '@nexus-backup/core';
import { type CheckReport, checkRepository, describeCheck } from './check-repository.js';
import { checkDrillAge } from './drill-freshness.js';
import type { FreshnessPolicy } from './freshness.js';
import { urlHost } from './http-post.js';
import { type NotifyFailure, notifyAll, postWebhook } from './notify.js';
import { openRepository, type RepositoryRef } from './open-repository.js';
import type { OpsServices } from './services.js';
import { runSourceChecks, type SourceCheckRequest } from './source-checks.js';

/**
 * A check beyond freshness, run on the report after the repository was judged: it adds its problems
 * (`report.problems`, the pipeline's `problems`, `ok = false`). A provider's check (WAL age) fits here.
 */
export type ReportCheck = (
  report: CheckReport,
  repository: Repository,
  ctx: RunContext,
  services: OpsServices,
) => Promise<void>;

export interface CheckBackupsOptions {
  repository: RepositoryRef;
  /** Pipelines to judge; default: the config's pipelines that write to the repository (all of them when none does), else every pipeline in it. */
  pipelines?: string[];
  /** Supplies each pipeline's `check:` policy and the default pipelines. */
  config?: NexusConfig;
  /** Overrides the config's `check.maxAge`; one of the two is required per pipeline. */
  maxAgeMs?: number;
  /** Overrides the config's `check.minSize`. */
  minSize?: number;
  /** Also require a successful restore drill younger than this in `history.db`. */
  maxDrillAgeMs?: number;
  /** Sources' own checks of data outside backup folders (pgbase: `--max-wal-age`); their problems join the report's. */
  sourceChecks?: readonly SourceCheckRequest[];
  /** More checks, run in order after freshness, the drill age and the source checks. */
  checks?: ReportCheck[];
}

/** A check's outcome: the report, plus what source checks add for people (lines) and for Prometheus (gauges). */
export interface CheckOutcome extends CheckReport {
  sourceMetrics: SourceCheckMetric[];
  /** `ok` lines of passing source checks. */
  sourceLines: string[];
}

/** `nexus-backup check`: one scan of the repository, every pipeline judged by its policy, then the extra checks. */
export async function checkBackups(
  options: CheckBackupsOptions,
  services: OpsServices,
): Promise<CheckOutcome> {
  const { config } = options;
  const policyFor = (name: string): FreshnessPolicy => {
    const configured = config?.pipelines[name]?.check;
    const age = options.maxAgeMs ?? configured?.maxAgeMs;
    const size = options.minSize ?? configured?.minSize;
    if (age === undefined) {
      throw new NexusError('USAGE', `no maximum age for pipeline ${name}`, {
        hint: `pass --max-age (e.g. 26h) or set pipelines.${name}.check.maxAge in the config`,
      });
    }
    return { maxAgeMs: age, ...(size !== undefined ? { minSize: size } : {}) };
  };
  const configured = config
    ? configuredPipelines(Object.values(config.pipelines), options.repository.url)
    : undefined;
  const named = options.pipelines && options.pipelines.length > 0 ? options.pipelines : undefined;
  const repository = await openRepository(options.repository, services);
  const ctx = services.context();
  const report = await checkRepository(
    repository,
    (found) => (named ?? configured ?? found).map((name) => ({ name, policy: policyFor(name) })),
    ctx,
    { now: services.now() },
  );
  if (options.maxDrillAgeMs !== undefined) {
    await checkDrillAge(report, {
      historyDb: config?.history?.db,
      maxAgeMs: options.maxDrillAgeMs,
      now: services.now(),
    });
  }
  const sources = await runSourceChecks(repository, options.sourceChecks ?? [], services);
  report.problems.push(...sources.problems);
  report.ok &&= sources.problems.length === 0;
  for (const check of options.checks ?? []) await check(report, repository, ctx, services);
  return Object.assign(report, { sourceMetrics: sources.metrics, sourceLines: sources.lines });
}

export interface CheckNotification {
  /** `--notify URL`: this webhook instead of the config's notifiers. */
  webhook?: string;
  /** Post to `webhook` when the check passed too. */
  onSuccess?: boolean;
  /** The config's notifiers: only webhooks are told (a check's success ping would hide a backup that never ran). */
  notifiers?: NotifyConfig[];
}

/** Sends the check's message where it belongs; returns the notifiers that failed (by host, never by URL). */
export async function notifyCheck(
  report: CheckReport,
  target: CheckNotification,
  services: OpsServices,
): Promise<NotifyFailure[]> {
  if (target.webhook) {
    if (report.ok && !target.onSuccess) return [];
    try {
      await postWebhook(target.webhook, describeCheck(report));
      services.log.debug(`notified ${urlHost(target.webhook)}`);
      return [];
    } catch (error) {
      return [{ host: urlHost(target.webhook), message: (error as Error).message }];
    }
  }
  const webhooks = (target.notifiers ?? []).filter((notifier) => notifier.kind === 'webhook');
  return notifyAll(webhooks, { event: report.ok ? 'success' : 'failure', text: describeCheck(report) });
}

/** With a config: the pipelines that write to this repository, or all of them when none does. */
function configuredPipelines(pipelines: PipelineConfig[], repositoryUrl: string): string[] {
  const same = (url: string) => normalizeUrl(url) === normalizeUrl(repositoryUrl);
  const writers = pipelines.filter((pipeline) => pipeline.to.some((repository) => same(repository.url)));
  return (writers.length > 0 ? writers : pipelines).map((pipeline) => pipeline.name);
}

function normalizeUrl(url: string): string {
  const text = url.startsWith('/') ? `file://${url}` : url;
  return text.replace(/\/+$/, '');
}
