import {
  EXIT,
  exitCodeFor,
  formatError,
  isNexusError,
  NexusError,
  TOOL_VERSION,
  toNexusError,
} from '@nexus-backup/core';
import { Command, CommanderError, Option } from 'commander';
import { rejectPasswordsInArgv } from './argv-secrets.js';
import { checkRequiredAfterUnknown, usageErrorsFromParsers } from './command-checks.js';
import { registerBackup } from './commands/backup.js';
import { registerCheck } from './commands/check.js';
import { registerCleanup } from './commands/cleanup.js';
import { registerConfig } from './commands/config.js';
import { registerContributedCommands } from './commands/contributed.js';
import { registerCopy } from './commands/copy.js';
import { registerDrill } from './commands/drill.js';
import { registerHistory } from './commands/history.js';
import { registerList } from './commands/list.js';
import { registerMirror } from './commands/mirror.js';
import { registerPrune } from './commands/prune.js';
import { registerRecover } from './commands/recover.js';
import { registerRestore } from './commands/restore.js';
import { registerRun } from './commands/run.js';
import { registerSchedule } from './commands/schedule.js';
import { registerUnlock } from './commands/unlock.js';
import { registerVerify } from './commands/verify.js';
import { openRepositoriesEarly } from './early-open.js';
import { type GlobalFlags, type MainOptions, Runtime } from './runtime.js';

export type { MainOptions } from './runtime.js';

/** Commands whose flags come from provider declarations: only these load provider definitions. */
const PROVIDER_COMMANDS = new Set(['backup', 'restore', 'copy', 'cleanup', 'check']);

/** Runs the CLI and returns the exit code (0 ok, 1 warnings, 2 failed, 64 usage or config error). */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const runtime = new Runtime(options, prescanGlobals(argv));
  const stop = (signal: NodeJS.Signals) => {
    if (runtime.abort.signal.aborted) process.exit(EXIT.failed);
    runtime.log.warn('interrupted: stopping and removing partial output (press again to quit at once)');
    runtime.abort.abort(
      new NexusError('ABORTED', `interrupted by ${signal}; the run stopped and removed its partial output`),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let openingEarly: Promise<void> | undefined;
  try {
    await rejectPasswordsInArgv(argv, () => runtime.installedDefinitions());
    openingEarly = openRepositoriesEarly(argv, runtime);
    const command = findCommandName(argv);
    const program = await buildProgram(runtime, command);
    process.exitCode = undefined;
    await program.parseAsync(argv, { from: 'user' });
    const exitCode = typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
    // A provider's warning (`no table matches --tables x`) means "finished with warnings": exit 1.
    return exitCode === EXIT.ok && runtime.runWarnings > 0 ? EXIT.warnings : exitCode;
  } catch (error) {
    return reportError(error, runtime);
  } finally {
    await openingEarly; // what it opened is closed with the rest
    await runtime.closeAll();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

async function buildProgram(runtime: Runtime, command: string | undefined): Promise<Command> {
  const providerCommand = command && PROVIDER_COMMANDS.has(command) ? command : undefined;
  const program = new Command('nexus-backup')
    .description('Back up, restore, verify and prune PostgreSQL databases, credentials and config files')
    .version(TOOL_VERSION)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addOption(new Option('--config <file>', 'config file (default: ./nexus-backup.yaml when present)'))
    .addOption(
      new Option(
        '--plugin <module>',
        'load in-house providers from a package name or module path (repeatable)',
      ).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]),
    )
    .addOption(new Option('--passphrase-file <file>', 'read the encryption passphrase from this file'))
    .addOption(
      new Option('--passphrase-env <var>', 'read the encryption passphrase from this environment variable'),
    )
    .option('--json', 'machine-readable output on stdout')
    .option('-q, --quiet', 'only warnings and errors')
    .option('-v, --verbose', 'debug output');
  program.addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 finished with warnings, 2 failed, 64 usage or config error.\nPassphrases come from $NEXUS_BACKUP_PASSPHRASE, --passphrase-file, --passphrase-env or a prompt; never from argv.',
  );
  await registerBackup(program, runtime, providerCommand === 'backup');
  registerRun(program, runtime);
  registerList(program, runtime);
  await registerRestore(program, runtime, providerCommand === 'restore');
  registerVerify(program, runtime);
  registerDrill(program, runtime);
  await registerCleanup(program, runtime, providerCommand === 'cleanup');
  registerUnlock(program, runtime);
  registerPrune(program, runtime);
  await registerCopy(program, runtime, providerCommand === 'copy');
  registerMirror(program, runtime);
  await registerCheck(program, runtime, providerCommand === 'check');
  registerHistory(program, runtime);
  registerSchedule(program, runtime);
  registerRecover(program, runtime);
  registerConfig(program, runtime);
  await registerContributedCommands(program, runtime, command);
  for (const command of program.commands) applyExitOverride(command);
  return program;
}

function applyExitOverride(command: Command): void {
  command.exitOverride();
  command.showHelpAfterError('(run with --help for usage)');
  usageErrorsFromParsers(command);
  checkRequiredAfterUnknown(command);
  for (const child of command.commands) applyExitOverride(child);
}

function reportError(error: unknown, runtime: Runtime): number {
  if (error instanceof CommanderError) {
    // --help and --version end through exitOverride with code 0; usage mistakes were printed already.
    if (
      error.exitCode === 0 ||
      error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version'
    )
      return EXIT.ok;
    return EXIT.usage;
  }
  // Once interrupted, whatever a stage threw ("[local] the operation was aborted") is the signal's doing.
  const failure = runtime.abort.signal.aborted
    ? toNexusError(runtime.abort.signal.reason)
    : toNexusError(error);
  runtime.log.error(formatError(failure).replace(/^\[nexus-backup\] /, ''));
  if (!isNexusError(error) || failure.code === 'INTERNAL')
    runtime.log.debug((error as Error)?.stack ?? String(error));
  return exitCodeFor(failure);
}

/** `--config` and `--plugin` decide which providers exist, so they are read before the commands are built. */
function prescanGlobals(argv: string[]): GlobalFlags {
  const flags: GlobalFlags = {};
  for (let index = 0; index < argv.length; index += 1) {
    const [flag, inline] = (argv[index] as string).split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++index];
    if (flag === '--config') flags.config = value();
    else if (flag === '--plugin') {
      const plugin = value();
      if (plugin) flags.plugin = [...(flags.plugin ?? []), plugin];
    } else if (flag === '--verbose' || flag === '-v') flags.verbose = true;
  }
  return flags;
}

const GLOBALS_WITH_VALUE = new Set(['--config', '--plugin', '--passphrase-file', '--passphrase-env']);

/** The subcommand named on the command line, skipping global options and their values. */
function findCommandName(argv: string[]): string | undefined {
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index] as string;
    if (GLOBALS_WITH_VALUE.has(arg)) index += 1;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}
