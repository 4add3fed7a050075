import { type Command, InvalidArgumentError } from 'commander';

/**
 * A value parser that throws a plain Error (or a NexusError) would escape commander as an internal
 * failure (exit 2). Every parser of every option and argument is wrapped once here, so any refused
 * value is a usage error (exit 64) with commander's "option '--x <n>' argument 'y' is invalid" line.
 */
export function usageErrorsFromParsers(command: Command): void {
  for (const target of [...command.options, ...command.registeredArguments]) {
    const parse = target.parseArg;
    if (!parse) continue;
    target.parseArg = <T>(value: string, previous: T): T => {
      try {
        return parse(value, previous) as T;
      } catch (error) {
        if ((error as { code?: string }).code === 'commander.invalidArgument') throw error;
        throw new InvalidArgumentError((error as Error).message);
      }
    };
  }
}

/**
 * Commander checks required options before unknown ones, so `--too /x` was reported as a missing
 * `--to`. Required options are checked here after commander has refused unknown flags (with its
 * "did you mean --to?" suggestion), right before the action runs.
 */
export function checkRequiredAfterUnknown(command: Command): void {
  const required = command.options.filter((option) => option.mandatory);
  if (required.length === 0) return;
  for (const option of required) option.mandatory = false;
  command.hook('preAction', () => {
    for (const option of required) {
      if (command.getOptionValue(option.attributeName()) === undefined) {
        command.error(`error: required option '${option.flags}' not specified`, {
          code: 'commander.missingMandatoryOptionValue',
        });
      }
    }
  });
}
