import { defaultOptions, EXIT, kebabCase, NexusError, resolveOptions } from '@nexus-backup/core';
import type { Command } from 'commander';
import { printJson, printLines } from '../output.js';
import { addDeclaredOptions, pickDeclaredValues } from '../provider-flags.js';
import type { Runtime } from '../runtime.js';
import { installedRestoreOptions, installedSources } from './restore-options.js';

/**
 * `cleanup --to-dir DIR | --to-file FILE | --create-db NAME --db URL`: finishes or rolls back what
 * killed restores left at a target, with the same target options restore takes. Each source that
 * declares all the given options and knows how (`settleTarget`) does its part.
 */
export async function registerCleanup(
  program: Command,
  runtime: Runtime,
  loadProviders: boolean,
): Promise<void> {
  const command = program
    .command('cleanup')
    .description(
      'finish or roll back what killed restores left at a target (staging folders, temporary databases, partial files); restore does this itself before it starts',
    );
  if (loadProviders) addDeclaredOptions(command, await installedRestoreOptions(runtime));
  command.action(async () => {
    const parsed = command.optsWithGlobals();
    runtime.flags = parsed;
    const ctx = runtime.context();
    const all = await installedRestoreOptions(runtime);
    const given = Object.keys(all).filter((name) => parsed[name] !== undefined);
    const flags = (names: string[]) => names.map((name) => `--${kebabCase(name)}`).join(', ');
    if (given.length === 0) {
      throw new NexusError('USAGE', 'cleanup needs the target a restore was given', {
        hint: 'pass --to-dir DIR, --to-file FILE, or --create-db NAME --db URL',
      });
    }
    const lines: string[] = [];
    let handled = false;
    for (const definition of await installedSources(runtime)) {
      if (!given.every((name) => name in definition.restoreOptions)) continue;
      const source = await definition.create(defaultOptions(definition.options));
      if (!source.settleTarget) continue;
      const target = resolveOptions(definition.restoreOptions, {
        path: `cleanup ${definition.name}`,
        provider: definition.name,
        values: pickDeclaredValues(definition.restoreOptions, parsed),
        env: runtime.env,
        fromCli: true,
      });
      handled = true;
      for (const line of (await source.settleTarget(ctx, target)).lines)
        if (!lines.includes(line)) lines.push(line);
    }
    if (!handled) {
      throw new NexusError('USAGE', `no installed source cleans up a target given as ${flags(given)}`, {
        hint: 'pass --to-dir DIR, --to-file FILE, or --create-db NAME --db URL',
      });
    }
    if (parsed.json) printJson({ lines });
    else printLines(lines);
    process.exitCode = EXIT.ok;
  });
}
