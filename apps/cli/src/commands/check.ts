import { EXIT, formatBytes, NexusError, parseByteSize, parseDurationMs } from '@nexus-backup/core';
import type { CheckOutcome } from '@nexus-backup/ops';
import { type Command, Option } from 'commander';
import { printJson, printLines } from '../output.js';
import { addDeclaredOptions } from '../provider-flags.js';
import { resolveRepositoryRef } from '../repositories.js';
import type { Runtime } from '../runtime.js';
import { installedCheckOptions, sourceCheckRequests } from './source-hooks.js';

/** `check [PIPELINE...] --from <repo> --max-age 26h [--min-size SIZE] [--notify URL] [--json] [--prometheus FILE]` */
export async function registerCheck(
  program: Command,
  runtime: Runtime,
  loadProviders: boolean,
): Promise<void> {
  const command = program
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
    );
  // Checks sources add for data outside backup folders (pgbase: --max-wal-age, --db).
  if (loadProviders) addDeclaredOptions(command, await installedCheckOptions(runtime));
  command.action(async (names: string[], _options: unknown, command: Command) => {
    const flags = command.optsWithGlobals();
    runtime.flags = flags;
    const webhook = webhookUrl(flags, runtime.env);
    const maxAgeMs = flags.maxAge === undefined ? undefined : parseDurationMs(flags.maxAge as string);
    const maxDrillAgeMs =
      flags.maxDrillAge === undefined ? undefined : parseDurationMs(flags.maxDrillAge as string);
    const repository = await resolveRepositoryRef(flags.from as string, runtime);
    // Like every other command: --config FILE, else ./nexus-backup.yaml when it exists.
    const config = await runtime.config();
    const services = await runtime.services();
    const ops = await import('@nexus-backup/ops');
    const report = await ops.checkBackups(
      {
        repository,
        pipelines: names,
        ...(config ? { config } : {}),
        ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
        ...(flags.minSize !== undefined ? { minSize: flags.minSize as number } : {}),
        ...(maxDrillAgeMs !== undefined ? { maxDrillAgeMs } : {}),
        sourceChecks: await sourceCheckRequests(runtime, flags),
      },
      services,
    );
    if (!flags.quiet && !flags.json) printLines(report.sourceLines);
    printReport(report, runtime, ops.formatDuration);
    let exitCode: number = report.ok ? EXIT.ok : EXIT.failed;
    if (flags.prometheus)
      await ops.writeTextfileAtomically(
        flags.prometheus as string,
        ops.renderPrometheus(report.pipelines, report.repository, report.checkedAt) +
          ops.renderGauges(report.sourceMetrics),
      );
    const failures = await ops.notifyCheck(
      report,
      webhook ? { webhook, onSuccess: Boolean(flags.notifyOnSuccess) } : { notifiers: config?.notify ?? [] },
      services,
    );
    for (const failure of failures) runtime.log.warn(`notification failed: ${failure.message}`);
    if (failures.length > 0) exitCode = Math.max(exitCode, EXIT.warnings);
    process.exitCode = exitCode;
  });
}

function printReport(outcome: CheckOutcome, runtime: Runtime, formatDuration: (ms: number) => string): void {
  const { sourceMetrics: _metrics, sourceLines: _lines, ...report } = outcome;
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
