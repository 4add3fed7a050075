import {
  EXIT,
  formatBytes,
  NexusError,
  type PipelineConfig,
  parseByteSize,
  parseDurationMs,
} from '@nexus-backup/core';
import { type Command, Option } from 'commander';
import { type CheckReport, checkRepository, describeCheck } from '../ops/check-repository.js';
import { checkDrillAge } from '../ops/drill-freshness.js';
import type { FreshnessPolicy } from '../ops/freshness.js';
import { urlHost } from '../ops/http-post.js';
import { notifyAll, postWebhook } from '../ops/notify.js';
import { renderGauges, renderPrometheus, writeTextfileAtomically } from '../ops/prometheus.js';
import { formatDuration } from '../ops/run-message.js';
import { printJson, printLines } from '../output.js';
import { addDeclaredOptions } from '../provider-flags.js';
import { openRepository, resolveRepositoryRef } from '../repositories.js';
import type { Runtime } from '../runtime.js';
import { installedCheckOptions, sourceChecks } from './source-hooks.js';

/** `check [PIPELINE...] --from <repo> --max-age 26h [--min-size SIZE] [--notify URL] [--json] [--prometheus FILE]` */
export async function registerCheck(
  program: Command,
  runtime: Runtime,
  loadProviders: boolean,
): Promise<void> {
  const check = program
    .command('check')
    .description(
      'exit 2 unless every pipeline has a complete backup younger than --max-age (for cron and monitoring)',
    )
    .argument(
      '[pipelines...]',
      "pipelines to check (default: the config's pipelines with --config, else every pipeline in the repository)",
    )
    .requiredOption('--from <repository>', 'repository path, URL or config name')
    .option(
      '--max-age <duration>',
      "the newest backup must be younger than this, e.g. 26h (default: the pipeline's check.maxAge)",
    )
    .addOption(
      new Option(
        '--min-size <size>',
        'the newest backup must store at least this much, e.g. 1048576, 10MB, 1.5GiB',
      ).argParser(parseByteSize),
    )
    .option(
      '--notify <url>',
      "post a Slack/Discord-style webhook message when a problem is found (default with --config: the config's webhook notifiers)",
    )
    .option(
      '--notify-env <var>',
      'like --notify, with the webhook URL read from this environment variable (keeps it out of ps)',
    )
    .option('--notify-on-success', 'post to the webhook on success too')
    .option(
      '--max-drill-age <duration>',
      "also require a successful restore drill (`nexus-backup drill`) younger than this, e.g. 35d, from the config's history database",
    )
    .option(
      '--prometheus <file>',
      'write a node-exporter textfile (last success time, size, duration, check status)',
    )
    .action(async (names: string[], _options: unknown, command: Command) => {
      const flags = command.optsWithGlobals();
      runtime.flags = flags;
      const webhook = webhookUrl(flags, runtime.env);
      const maxAgeMs = flags.maxAge === undefined ? undefined : parseDurationMs(flags.maxAge as string);
      const maxDrillAgeMs =
        flags.maxDrillAge === undefined ? undefined : parseDurationMs(flags.maxDrillAge as string);
      const ref = await resolveRepositoryRef(flags.from as string, runtime);
      // Like every other command: --config FILE, else ./nexus-backup.yaml when it exists.
      const config = await runtime.config();
      const policyFor = (name: string): FreshnessPolicy => {
        const configured = config?.pipelines[name]?.check;
        const policy: FreshnessPolicy = {};
        const age = maxAgeMs ?? configured?.maxAgeMs;
        const size = (flags.minSize as number | undefined) ?? configured?.minSize;
        if (age === undefined) {
          throw new NexusError('USAGE', `no maximum age for pipeline ${name}`, {
            hint: `pass --max-age (e.g. 26h) or set pipelines.${name}.check.maxAge in the config`,
          });
        }
        policy.maxAgeMs = age;
        if (size !== undefined) policy.minSize = size;
        return policy;
      };
      const configured = config ? configuredPipelines(Object.values(config.pipelines), ref.url) : undefined;
      const repository = await openRepository(ref, runtime);
      const report = await checkRepository(
        repository,
        (found) =>
          (names.length > 0 ? names : (configured ?? found)).map((name) => ({
            name,
            policy: policyFor(name),
          })),
        runtime.context(),
      );
      if (maxDrillAgeMs !== undefined) {
        const historyDb = (config ?? (await runtime.config()))?.history?.db;
        await checkDrillAge(report, { historyDb, maxAgeMs: maxDrillAgeMs });
      }
      // Checks sources add for data outside backup folders (pgbase: --max-wal-age, --db).
      const extra = await sourceChecks(repository, runtime, flags);
      report.problems.push(...extra.problems);
      report.ok &&= extra.problems.length === 0;
      if (!flags.quiet && !flags.json) printLines(extra.lines);
      printReport(report, runtime);
      let exitCode: number = report.ok ? EXIT.ok : EXIT.failed;
      if (flags.prometheus)
        await writeTextfileAtomically(
          flags.prometheus as string,
          renderPrometheus(report.pipelines, report.repository, report.checkedAt) +
            renderGauges(extra.metrics),
        );
      if (webhook && (!report.ok || flags.notifyOnSuccess)) {
        try {
          await postWebhook(webhook, describeCheck(report));
          runtime.log.debug(`notified ${urlHost(webhook)}`);
        } catch (error) {
          runtime.log.warn(`notification failed: ${(error as Error).message}`);
          exitCode = Math.max(exitCode, EXIT.warnings);
        }
      } else if (!webhook && config) {
        // Webhooks only: a healthchecks URL expects the backup run's own pings, and a check's
        // success ping would hide a backup that never ran.
        const webhooks = config.notify.filter((target) => target.kind === 'webhook');
        const event = report.ok ? 'success' : 'failure';
        const failures = await notifyAll(webhooks, { event, text: describeCheck(report) });
        for (const failure of failures) runtime.log.warn(`notification failed: ${failure.message}`);
        if (failures.length > 0) exitCode = Math.max(exitCode, EXIT.warnings);
      }
      process.exitCode = exitCode;
    });
  if (loadProviders) addDeclaredOptions(check, await installedCheckOptions(runtime));
}

function printReport(report: CheckReport, runtime: Runtime): void {
  if (runtime.flags.json) {
    printJson({ ...report, checkedAt: report.checkedAt.toISOString() });
    return;
  }
  const lines: string[] = [];
  for (const result of report.pipelines) {
    const newest = result.newest;
    // --quiet: a check run from cron prints (and so mails) only its problems.
    if (result.ok && newest && !runtime.flags.quiet) {
      lines.push(
        `ok    ${result.pipeline}: newest backup ${newest.id} is ${formatDuration(newest.ageMs)} old, ${formatBytes(newest.bytes)}`,
      );
    }
  }
  for (const problem of report.problems) lines.push(`FAIL  ${problem.message}`);
  printLines(lines);
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

function webhookUrl(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): string | undefined {
  if (flags.notify !== undefined && flags.notifyEnv !== undefined) {
    throw new NexusError('USAGE', '--notify and --notify-env both given', { hint: 'use one of them' });
  }
  const from = flags.notifyEnv === undefined ? '--notify' : `$${String(flags.notifyEnv)} (from --notify-env)`;
  const value =
    flags.notifyEnv === undefined ? (flags.notify as string | undefined) : env[flags.notifyEnv as string];
  if (flags.notifyEnv !== undefined && !value) throw new NexusError('USAGE', `${from} is not set`);
  if (value === undefined) return undefined;
  // The URL is a secret: say what is wrong with it without repeating it.
  if (!/^https?:$/.test(URL.parse(value)?.protocol ?? '')) {
    throw new NexusError('USAGE', `${from} is not an http(s) URL`, {
      hint: 'pass the incoming webhook URL of Slack, Discord or similar',
    });
  }
  return value;
}
