import { EXIT, formatBytes, NexusError } from '@nexus-backup/core';
import { type Command, Option } from 'commander';
import { printJson, printTable } from '../output.js';
import type { Runtime } from '../runtime.js';

/** `history [PIPELINE] [--limit N] [--json]`: the runs recorded in the config's `history: { db }`, newest first. */
export function registerHistory(program: Command, runtime: Runtime): void {
  program
    .command('history')
    .description(
      'list recorded backup runs and restore drills (successful and failed) from the history database in the config',
    )
    .argument('[pipeline]', 'only this pipeline')
    .addOption(new Option('--limit <n>', 'at most this many runs').default(20).argParser(parseLimit))
    .action(async (pipeline: string | undefined, _options: unknown, command: Command) => {
      const flags = command.optsWithGlobals();
      runtime.flags = flags;
      const { formatDuration, readHistory } = await import('@nexus-backup/ops');
      const config = await runtime.config(true);
      const db = config?.history?.db;
      if (!db) {
        throw new NexusError('USAGE', `${config?.file} has no history database`, {
          hint: 'add `history: { db: <PostgreSQL URL> }` to the config (an environment variable keeps the URL out of the file)',
        });
      }
      const rows = await readHistory(db, { ...(pipeline ? { pipeline } : {}), limit: flags.limit as number });
      if (flags.json) {
        printJson({ runs: rows });
      } else {
        printTable(
          ['STARTED', 'PIPELINE', 'STATUS', 'ID', 'SIZE', 'DURATION', 'DESTINATIONS', 'ERROR'],
          rows.map((row) => [
            row.startedAt,
            row.pipeline,
            // Drills share the table with backups; the header stays as scripts know it.
            row.kind === 'backup' ? row.status : `${row.kind} ${row.status}`,
            row.backupId ?? '-',
            row.bytes === null ? '-' : formatBytes(row.bytes),
            formatDuration(row.durationMs),
            row.destinations.map((d) => `${d.repository}${d.ok ? '' : ' (failed)'}`).join(', '),
            row.error ?? '',
          ]),
        );
      }
      process.exitCode = EXIT.ok;
    });
}

function parseLimit(value: string): number {
  const limit = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(limit) || limit < 1)
    throw new Error(`expected a whole number of runs (1 or more), got "${value}"`);
  return limit;
}
