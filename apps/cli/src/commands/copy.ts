import { EXIT, resolveOptions, runCopy } from '@nexus-backup/core';
import type { Command } from 'commander';
import { printJson, printLines } from '../output.js';
import { addDeclaredOptions, pickDeclaredValues } from '../provider-flags.js';
import type { Runtime } from '../runtime.js';
import { loadSourceCommands } from './source-commands.js';

/**
 * `copy <source> [source options] [target options] [--dry-run]`: a backup streamed straight into a
 * restore target with no repository in between (e.g. `copy postgres --db URL --create-db`).
 * A flag both sides declare (like `--db`) feeds both: the source reads it, the target uses its server.
 */
export async function registerCopy(
  program: Command,
  runtime: Runtime,
  loadProviders: boolean,
): Promise<void> {
  const copy = program
    .command('copy')
    .description('stream a source straight into a restore target, no file in between');
  if (!loadProviders) {
    copy.argument('<source>', 'the source to copy, e.g. postgres');
    return;
  }
  await loadSourceCommands(copy, runtime, (command, definition) => {
    const added = new Set<string>();
    addDeclaredOptions(command, definition.options, added);
    addDeclaredOptions(command, definition.restoreOptions, added);
    command.action(async (...args: unknown[]) => {
      const parsed = command.optsWithGlobals();
      runtime.flags = parsed;
      const positionals = args.slice(0, command.registeredArguments.length);
      const sourceOptions = resolveOptions(definition.options, {
        path: `copy ${definition.name}`,
        provider: definition.name,
        values: pickDeclaredValues(definition.options, parsed, positionals),
        env: runtime.env,
        fromCli: true,
      });
      const target = resolveOptions(definition.restoreOptions, {
        path: `copy ${definition.name}`,
        provider: definition.name,
        values: pickDeclaredValues(definition.restoreOptions, parsed),
        env: runtime.env,
        fromCli: true,
      }) as Record<string, unknown>;
      const source = await definition.create(sourceOptions);
      const report = await runCopy(source, target, runtime.context());
      // e.g. a database copied with --allow-incomplete: what was left out is named, and exit is 1.
      const warnings = report.warnings ?? [];
      for (const warning of warnings) runtime.log.warn(warning);
      if (parsed.json) printJson({ lines: report.lines, details: report.details ?? null, warnings });
      else printLines(report.lines);
      process.exitCode = warnings.length > 0 ? EXIT.warnings : EXIT.ok;
    });
  });
}
