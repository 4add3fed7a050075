import {
  BUILTIN_COMMANDS,
  BUILTIN_PROVIDERS,
  type CommandDefinition,
  type CommandServices,
  type ProviderDefinition,
  type Repository,
  resolveOptions,
} from '@nexus-backup/core';
import type { Command } from 'commander';
import { printJson, printLines } from '../output.js';
import { addDeclaredOptions } from '../provider-flags.js';
import { openRepositoryByName } from '../repositories.js';
import type { Runtime } from '../runtime.js';
import { sourcesInRepository } from './source-hooks.js';

/**
 * Commands that providers bring (`wal push`, `wal fetch`, ...). Only the provider behind the command on
 * the command line is loaded; the others get a one-line entry so `--help` lists them without loading.
 */
export async function registerContributedCommands(
  program: Command,
  runtime: Runtime,
  commandName: string | undefined,
): Promise<void> {
  const coreCommands = new Set(program.commands.map((command) => command.name()));
  // Help and the core commands must not load a config or a provider for commands they do not run.
  const wanted = commandName !== undefined && !coreCommands.has(commandName) ? commandName : undefined;
  const groups = new Map<string, CommandDefinition[]>();
  const add = (definition: ProviderDefinition) => {
    for (const command of definition.commands ?? []) {
      const word = command.path[0] as string;
      groups.set(word, [...(groups.get(word) ?? []), command]);
    }
  };
  if (wanted) {
    const registry = await runtime.registry();
    for (const kind of ['source', 'transform', 'destination'] as const)
      for (const definition of await registry.plugins(kind)) add(definition);
    const builtin = BUILTIN_COMMANDS[wanted];
    if (builtin && !groups.has(wanted)) add(await registry.load(builtin.kind, builtin.name));
  }
  for (const [word, provider] of Object.entries(BUILTIN_COMMANDS)) {
    if (groups.has(word)) continue;
    const packageName = BUILTIN_PROVIDERS[provider.kind][provider.name];
    program
      .command(word)
      .description(
        provider.summary ??
          `${provider.name} commands (from ${packageName}; see: nexus-backup ${word} --help)`,
      )
      .allowUnknownOption()
      .allowExcessArguments();
  }
  for (const commands of groups.values())
    for (const command of commands) addCommand(program, command, runtime);
}

function addCommand(program: Command, definition: CommandDefinition, runtime: Runtime): void {
  let parent = program;
  for (const word of definition.path.slice(0, -1)) {
    parent = parent.commands.find((command) => command.name() === word) ?? parent.command(word);
  }
  const command = parent.command(definition.path.at(-1) as string).description(definition.description);
  for (const argument of definition.arguments ?? [])
    command.argument(argument.required ? `<${argument.name}>` : `[${argument.name}]`, argument.description);
  addDeclaredOptions(command, definition.options);
  command.action(async (...args: unknown[]) => {
    const parsed = command.optsWithGlobals();
    runtime.flags = parsed;
    const positionals = args
      .slice(0, definition.arguments?.length ?? 0)
      .filter((value): value is string => typeof value === 'string');
    const values: Record<string, unknown> = {};
    for (const name of Object.keys(definition.options))
      if (parsed[name] !== undefined) values[name] = parsed[name];
    const options = resolveOptions(definition.options, {
      path: definition.path.join(' '),
      provider: definition.path.join(' '),
      values,
      env: runtime.env,
      fromCli: true,
    });
    process.exitCode = await definition.run(positionals, options, services(runtime));
  });
}

function services(runtime: Runtime): CommandServices {
  return {
    ctx: runtime.context(),
    env: runtime.env,
    json: Boolean(runtime.flags.json),
    openRepository: (value, options) => openRepositoryByName(value, runtime, options),
    configPipeline: async (name) => (await runtime.config())?.pipelines[name],
    async createTransform(name, values, path) {
      const registry = await runtime.registry();
      const definition = await registry.load('transform', name);
      const options = resolveOptions(definition.options, { path, provider: name, values, env: runtime.env });
      return {
        definition,
        version: registry.versionOf(definition),
        transform: await definition.create(options),
      };
    },
    async loadTransform(name) {
      return (await runtime.registry()).load('transform', name);
    },
    print(value) {
      if (Array.isArray(value) && value.every((line) => typeof line === 'string'))
        printLines(value as string[]);
      else printJson(value);
    },
  };
}

/**
 * After prune: each source whose backups remain in the repository may clean up what those backups
 * depend on outside their folders (pgbase: archived WAL older than the oldest kept base backup).
 */
export async function pruneSourceData(
  repository: Repository,
  runtime: Runtime,
  dryRun: boolean,
): Promise<string[]> {
  const ctx = runtime.context();
  const lines: string[] = [];
  for (const definition of await sourcesInRepository(repository, runtime)) {
    if (definition.afterPrune) lines.push(...(await definition.afterPrune(repository, ctx, { dryRun })));
  }
  return lines;
}
