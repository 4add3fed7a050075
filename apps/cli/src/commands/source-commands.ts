import { BUILTIN_PROVIDERS, NexusError, type SourceDefinition } from '@nexus-backup/core';
import type { Command } from 'commander';
import type { Runtime } from '../runtime.js';

/**
 * One subcommand per source (`backup postgres`, `copy files`), its flags derived from the source's
 * declaration. A built-in source whose package is missing still gets a subcommand, which fails with
 * the install command instead of "unknown command".
 */
export async function loadSourceCommands(
  parent: Command,
  runtime: Runtime,
  configure: (command: Command, definition: SourceDefinition) => void,
): Promise<void> {
  const registry = await runtime.registry();
  const plugins = await registry.plugins('source');
  for (const definition of plugins)
    configure(parent.command(definition.name).description(definition.description), definition);
  for (const name of Object.keys(BUILTIN_PROVIDERS.source)) {
    if (plugins.some((plugin) => plugin.name === name)) continue;
    const packageName = BUILTIN_PROVIDERS.source[name];
    if (!registry.isInstalled('source', name)) {
      addFailingCommand(parent, name, `(not installed: npm install ${packageName})`, () => {
        throw new NexusError('PROVIDER_MISSING', `the ${name} source needs the package ${packageName}`, {
          hint: `install it with: npm install ${packageName}`,
        });
      });
      continue;
    }
    try {
      const definition = await registry.load('source', name);
      configure(parent.command(name).description(definition.description), definition);
    } catch (error) {
      // A broken provider package must not take the other sources' commands down with it.
      addFailingCommand(parent, name, `(cannot load ${packageName})`, () => {
        throw error;
      });
    }
  }
}

function addFailingCommand(parent: Command, name: string, description: string, fail: () => never): void {
  parent.command(name).description(description).allowUnknownOption().allowExcessArguments().action(fail);
}
