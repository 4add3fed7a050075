import type { PlannedTransform } from './backup.js';
import type { PipelineConfig } from './config.js';
import type { Json, RunContext, TransformDefinition } from './contracts.js';
import type { OptionsSpec, OptionValues } from './options.js';
import type { Repository } from './repository.js';

/**
 * A CLI command a provider brings (`wal push`, `wal fetch`): its words, positional arguments and an
 * options declaration from which the CLI derives flags and help, exactly as for sources. The CLI
 * registers contributed commands without knowing the provider.
 */
export interface CommandDefinition<O extends OptionsSpec = OptionsSpec> {
  /** The command's words after `nexus-backup`, e.g. `['wal', 'push']`. */
  path: string[];
  description: string;
  arguments?: CommandArgument[];
  options: O;
  /** Returns the exit code (0 ok, 1 warnings, 2 failed); throws NexusError for anything else. */
  run(args: string[], options: OptionValues<O>, services: CommandServices): Promise<number>;
}

export interface CommandArgument {
  name: string;
  description: string;
  required?: boolean;
}

/** What the CLI lends a contributed command, so the command stays free of CLI internals. */
export interface CommandServices {
  ctx: RunContext;
  env: NodeJS.ProcessEnv;
  /** `--json` was given: print one JSON document on stdout. */
  json: boolean;
  /**
   * A `--to`/`--from` value: a repository name from the config, a URL or a path. Reading a local
   * repository that does not exist is an error; a command that writes passes `{ create: true }`.
   */
  openRepository(value: string, options?: { create?: boolean }): Promise<Repository>;
  /** A pipeline of the config file (`--config`), or undefined when there is no config or no such pipeline. */
  configPipeline(name: string): Promise<PipelineConfig | undefined>;
  /** A transform ready to encode, its options validated against its declaration (`path` names them in errors). */
  createTransform(name: string, values: Record<string, unknown>, path: string): Promise<PlannedTransform>;
  /** A transform definition by name, to decode what the manifest of an object names. */
  loadTransform(name: string): Promise<TransformDefinition>;
  /** Results go to stdout: lines of text, or JSON under --json. */
  print(value: Json | string[]): void;
}

/** Identity helper that keeps option types precise at the definition site. */
export function defineCommand<O extends OptionsSpec>(definition: CommandDefinition<O>): CommandDefinition<O> {
  return definition;
}
