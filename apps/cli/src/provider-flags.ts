import { kebabCase, type OptionSpec, type OptionsSpec } from '@nexus-backup/core';
import { type Command, Option } from 'commander';

/**
 * Adds a provider's declared options to a command: `createDb` becomes `--create-db <name>`, booleans
 * become switches, `positional` options take the command's arguments. Secret options get no flag at
 * all (they come from their environment variable or the config file), so they never reach argv.
 */
export function addDeclaredOptions(command: Command, spec: OptionsSpec, added = new Set<string>()): void {
  for (const [name, option] of Object.entries(spec)) {
    if (option.secret || added.has(name)) continue;
    added.add(name);
    if (option.positional) {
      const variadic = option.type === 'string[]';
      command.argument(variadic ? `[${name}...]` : `[${name}]`, describe(option));
      continue;
    }
    const flag = `--${kebabCase(name)}`;
    command.addOption(toCommanderOption(option.short ? `-${option.short}, ${flag}` : flag, option));
  }
}

export function toCommanderOption(flag: string, option: OptionSpec): Option {
  const placeholder = option.placeholder ?? (option.type === 'number' ? 'n' : 'value');
  const value = option.valueOptional ? `[${placeholder}]` : `<${placeholder}>`;
  const commanderOption = new Option(option.type === 'boolean' ? flag : `${flag} ${value}`, describe(option));
  if (option.choices) commanderOption.choices(option.choices as string[]);
  // Lists are repeatable and comma-separated (`--tables a,b --tables c`), never variadic, so they
  // cannot swallow the command's positional arguments.
  if (option.type === 'string[]') {
    commanderOption.argParser((value: string, previous: string[] | undefined) => [
      ...(previous ?? []),
      ...(option.commaSeparated === false ? [value] : value.split(',').filter((part) => part !== '')),
    ]);
  }
  return commanderOption;
}

function describe(option: OptionSpec): string {
  const extras: string[] = [];
  if (option.default !== undefined && option.default !== false)
    extras.push(`default: ${String(option.default)}`);
  if (option.env) extras.push(`env: ${option.env}`);
  if (option.required && option.default === undefined && !option.env) extras.push('required');
  return extras.length > 0 ? `${option.description} (${extras.join('; ')})` : option.description;
}

/** Picks this declaration's values out of everything commander parsed (positionals included). */
export function pickDeclaredValues(
  spec: OptionsSpec,
  parsed: Record<string, unknown>,
  positionals: unknown[] = [],
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(spec)) {
    if (option.positional) {
      const value = positionals[0];
      if (Array.isArray(value) ? value.length > 0 : value !== undefined) values[name] = value;
    } else if (parsed[name] !== undefined && !option.secret) {
      values[name] = parsed[name];
    }
  }
  return values;
}
