import {
  type Destination,
  type Logger,
  NexusError,
  ProviderRegistry,
  type RunContext,
  type Secrets,
} from '@nexus-backup/core';

/**
 * Everything an operation needs from the program that runs it, passed in instead of read from a
 * command line: the CLI builds one from its flags, a service or a test from its own settings.
 */
export interface OpsServices {
  /** Where providers come from (built-in packages, plugins). */
  registry: ProviderRegistry;
  /** Environment for `$VAR` option values and `DATABASE_URL`. */
  env: NodeJS.ProcessEnv;
  /** The operator's log: what an operation did, and hooks (notifications, history) that failed. */
  log: Logger;
  /** Aborts every operation (SIGTERM): the run in flight removes its partial output, the scheduler stops. */
  signal: AbortSignal;
  /** A context for one operation: the abort signal, the logger providers write to, secrets, progress. */
  context(): RunContext;
  /** The clock checks and records read; a test or a replay passes a fixed one. */
  now(): Date;
  /** Hears of every destination an operation opens, so connections (SSH, S3 agents) can be closed. */
  opened?(destination: Destination): void;
  /** Closes what `opened` collected; the scheduler calls it whenever no run is in flight. */
  closeAll?(): Promise<void>;
}

export interface ServicesOptions {
  /** Directories provider packages are resolved from (default: the working directory). */
  searchPaths?: string[];
  /** In-house providers: package names or module paths. */
  plugins?: string[];
  registry?: ProviderRegistry;
  env?: NodeJS.ProcessEnv;
  /** Default: info and warnings to stderr, no debug. */
  log?: Logger;
  signal?: AbortSignal;
  /** The repository passphrase for aes; without it, an encrypting pipeline fails with a usage error. */
  passphrase?: string | (() => Promise<string>);
  now?: () => Date;
}

/**
 * Services for a program that embeds the engine: a registry over its installed providers, its
 * environment, a plain logger, and a list of opened destinations that `closeAll` closes.
 */
export function createServices(options: ServicesOptions = {}): OpsServices & { closeAll(): Promise<void> } {
  const log = options.log ?? stderrLogger();
  const signal = options.signal ?? new AbortController().signal;
  const open: Destination[] = [];
  const secrets = passphraseSecrets(options.passphrase);
  return {
    registry:
      options.registry ??
      new ProviderRegistry({
        searchPaths: options.searchPaths ?? [process.cwd()],
        plugins: options.plugins ?? [],
      }),
    env: options.env ?? process.env,
    log,
    signal,
    context: () => ({ signal, log, secrets }),
    now: options.now ?? (() => new Date()),
    opened: (destination) => {
      open.push(destination);
    },
    closeAll: async () => {
      await Promise.allSettled(open.splice(0).map((destination) => destination.close?.()));
    },
  };
}

function passphraseSecrets(passphrase: ServicesOptions['passphrase']): Secrets {
  return {
    passphrase: async () => {
      if (typeof passphrase === 'function') return passphrase();
      if (passphrase) return passphrase;
      throw new NexusError('USAGE', 'no passphrase was given to the operations services', {
        hint: 'pass `passphrase` to createServices (read it from a file or a secret store, never a literal)',
      });
    },
  };
}

function stderrLogger(): Logger {
  return {
    info: (message) => process.stderr.write(`${message}\n`),
    warn: (message) => process.stderr.write(`warning: ${message}\n`),
    debug: () => undefined,
  };
}
