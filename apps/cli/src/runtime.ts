import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  BUILTIN_PROVIDERS,
  type Destination,
  type Logger,
  loadConfig,
  type NexusConfig,
  NexusError,
  type ProviderDefinition,
  type ProviderKind,
  ProviderRegistry,
  type RunContext,
} from '@nexus-backup/core';
import type { OpsServices, RunHooks } from '@nexus-backup/ops';
import { type CliLogger, createLogger } from './logger.js';
import { createProgress } from './progress.js';
import { loadScheduleChecker } from './schedule-check.js';
import { createSecrets, type PassphraseSources } from './secrets.js';

/** Options every command understands (declared once on the program). */
export interface GlobalFlags extends PassphraseSources {
  /** Everything else commander parsed for the command that runs. */
  [flag: string]: unknown;
  config?: string;
  plugin?: string[];
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

export interface MainOptions {
  /** Where provider packages are resolved from (cwd first, then e.g. a meta-package's folder). */
  searchPaths?: string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * What a command needs at run time, created lazily so `--help` loads no config and no provider.
 * One AbortController per process: SIGINT/SIGTERM abort the run in flight, which removes its partial output.
 */
export class Runtime {
  readonly abort = new AbortController();
  /** Set from the parsed command line before an action runs; `config`/`plugin` are pre-scanned from argv. */
  flags: GlobalFlags;
  private logger: CliLogger | undefined;
  /** Warnings providers and the engine logged through a run's context: any of them makes the exit code 1. */
  runWarnings = 0;
  private configPromise: Promise<NexusConfig | undefined> | undefined;
  private registryPromise: Promise<ProviderRegistry> | undefined;

  constructor(
    readonly options: MainOptions,
    prescanned: GlobalFlags,
  ) {
    this.flags = prescanned;
  }

  private readonly openDestinations: Destination[] = [];

  /** Connections (SSH, S3 agents) would keep the process alive; main closes them when the command ends. */
  closeAtExit(destination: Destination): void {
    this.openDestinations.push(destination);
  }

  async closeAll(): Promise<void> {
    const destinations = this.openDestinations.splice(0);
    await Promise.allSettled(destinations.map((destination) => destination.close?.()));
  }

  get log(): CliLogger {
    this.logger ??= createLogger({ quiet: this.flags.quiet, verbose: this.flags.verbose });
    return this.logger;
  }

  /** The logger handed to providers: their warnings (`no table matches --tables x`) are counted. */
  private runLogger(): Logger {
    const log = this.log;
    return {
      info: (message) => log.info(message),
      debug: (message) => log.debug(message),
      warn: (message) => {
        this.runWarnings += 1;
        log.warn(message);
      },
    };
  }

  get env(): NodeJS.ProcessEnv {
    return this.options.env ?? process.env;
  }

  /** The config file a command reads: `--config FILE`, else `./nexus-backup.yaml` when it exists. */
  configPath(): string | undefined {
    return this.flags.config ?? (existsSync('nexus-backup.yaml') ? 'nexus-backup.yaml' : undefined);
  }

  /** `--config FILE`, else `./nexus-backup.yaml` when it exists, else none. */
  config(required = false): Promise<NexusConfig | undefined> {
    this.configPromise ??= (async () => {
      const path = this.configPath();
      if (!path) return undefined;
      const config = await loadConfig(resolve(path), this.env);
      // croner is loaded only for a config with schedules; read again so a bad one is named with its line.
      if (!Object.values(config.pipelines).some((pipeline) => pipeline.schedule)) return config;
      return loadConfig(resolve(path), this.env, { checkSchedule: await loadScheduleChecker() });
    })();
    return this.configPromise.then((config) => {
      if (!config && required) throw configMissing();
      return config;
    });
  }

  registry(): Promise<ProviderRegistry> {
    this.registryPromise ??= (async () => {
      const config = await this.config();
      return new ProviderRegistry({
        searchPaths: this.options.searchPaths ?? [process.cwd()],
        plugins: [
          ...(this.flags.plugin ?? []).map((plugin) => pluginPath(plugin)),
          ...(config?.plugins ?? []),
        ],
      });
    })();
    return this.registryPromise;
  }

  /** Every installed provider's definition (built-in packages present, then plugins), for what all of them declare. */
  async installedDefinitions(): Promise<ProviderDefinition[]> {
    const registry = await this.registry();
    const found: ProviderDefinition[] = [];
    for (const kind of Object.keys(BUILTIN_PROVIDERS) as ProviderKind[]) {
      for (const name of Object.keys(BUILTIN_PROVIDERS[kind]))
        if (registry.isInstalled(kind, name)) found.push(await registry.load(kind, name));
      found.push(...(await registry.plugins(kind)));
    }
    return found;
  }

  /** The operations layer's inputs, from this command line: its registry, env, log, signal and connections. */
  async services(): Promise<OpsServices> {
    const registry = await this.registry();
    return {
      registry,
      env: this.env,
      log: this.log,
      signal: this.abort.signal,
      context: () => this.context(),
      now: () => new Date(),
      opened: (destination) => this.closeAtExit(destination),
      closeAll: () => this.closeAll(),
    };
  }

  /** The config's notifications and history database (none without a config). */
  async hooks(): Promise<RunHooks> {
    const { hooksFromConfig } = await import('@nexus-backup/ops');
    return hooksFromConfig(await this.config());
  }

  context(): RunContext {
    return {
      signal: this.abort.signal,
      log: this.runLogger(),
      secrets: createSecrets(this.flags, this.log, this.env),
      progress: this.flags.quiet
        ? undefined
        : createProgress(this.log, Boolean(process.stderr.isTTY) && !this.flags.json),
    };
  }
}

/** `./x.js`, `dir/x.mjs` and existing files are module paths; anything else is a package name. */
export function pluginPath(plugin: string): string {
  const looksLikeFile = plugin.startsWith('.') || /\.[cm]?[jt]s$/.test(plugin) || existsSync(plugin);
  return looksLikeFile ? resolve(plugin) : plugin;
}

function configMissing(): NexusError {
  return new NexusError('USAGE', 'no config file found', {
    hint: 'pass --config FILE or create nexus-backup.yaml in this directory',
  });
}
