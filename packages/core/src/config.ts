import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Document, LineCounter, parseDocument } from 'yaml';
import { interpolateConfig } from './config/interpolate.js';
import { ConfigKeyError, locateKeyPath } from './config/key-path.js';
import { ConfigProblems } from './config/problems.js';
import { validateConfig } from './config/validate.js';
import { NexusError } from './errors.js';
import type { RetentionPolicy } from './retention.js';

/** A validated `nexus-backup.yaml`. Paths are absolute; URLs are as written (after `${VAR}` interpolation). */
export interface NexusConfig {
  /** Absolute path of the config file. */
  file: string;
  /** The config file's directory: relative paths in provider options (e.g. `dir: ./credentials`) mean this. */
  baseDir: string;
  /** In-house provider modules: package names as written, paths made absolute. */
  plugins: string[];
  repositories: Record<string, RepositoryConfig>;
  pipelines: Record<string, PipelineConfig>;
  notify: NotifyConfig[];
  history?: HistoryConfig;
}

export interface RepositoryConfig {
  /** The name under `repositories:`; absent for a URL or path written directly in a pipeline's `to`. */
  name?: string;
  /** A URL, or an absolute path. */
  url: string;
  /** A failing optional repository makes a run finish with warnings instead of failing. */
  optional: boolean;
  /** Config key path, for messages: `repositories.offsite` or `pipelines.db.to[1]`. */
  path: string;
}

/** A provider named by `use`, with its options still unchecked: resolveOptions validates them later. */
export interface ProviderUse {
  use: string;
  options: Record<string, unknown>;
  /** Config key path, for messages: `pipelines.database.source`, `pipelines.database.transforms[0]`. */
  path: string;
}

export interface PipelineConfig {
  /** Also the folder name in every repository: `[a-z0-9][a-z0-9._-]*`. */
  name: string;
  source: ProviderUse;
  transforms: ProviderUse[];
  to: RepositoryConfig[];
  retention?: RetentionPolicy;
  /** A cron expression, checked by the scheduler. */
  schedule?: string;
  check?: CheckConfig;
  path: string;
}

export interface CheckConfig {
  /** The newest backup must be younger than this. */
  maxAgeMs?: number;
  /** The newest backup must store at least this many bytes. */
  minSize?: number;
}

export const NOTIFY_EVENTS = ['success', 'warning', 'failure'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];
export const NOTIFY_KINDS = ['webhook', 'healthchecks'] as const;
export type NotifyKind = (typeof NOTIFY_KINDS)[number];

export interface NotifyConfig {
  /** Usually a secret (a webhook token): never log it. */
  url: string;
  /** Default: warning and failure for webhooks; every event for healthchecks (it expects success pings). */
  on: NotifyEvent[];
  /** Default: healthchecks for hc-ping.com URLs, webhook otherwise. */
  kind: NotifyKind;
  path: string;
}

export interface HistoryConfig {
  /** A PostgreSQL URL (a secret: never log it). */
  db: string;
}

export interface ParseConfigOptions {
  /** The file name used in messages and the base for relative paths. */
  file: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Checks a pipeline's `schedule:` (throws saying what is wrong). The cron parser lives with the
   * scheduler in the CLI, so core stays free of it; without this, schedules are only checked to be strings.
   */
  checkSchedule?: (expression: string) => void;
}

export type LoadConfigOptions = Omit<ParseConfigOptions, 'file' | 'env'>;

/** Every problem of a config file, each `key.path: what to fix (file:line:col)`, and what validated. */
export interface ConfigInspection {
  file: string;
  problems: string[];
  /** The config without the parts that have problems; absent when the YAML itself does not parse. */
  config?: NexusConfig;
}

/**
 * Reads, interpolates and validates a config file. Problems are a NexusError CONFIG naming every one
 * of them with its position (not only the first), so one edit fixes them all.
 */
export async function loadConfig(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  options: LoadConfigOptions = {},
): Promise<NexusConfig> {
  return configOrThrow(await inspectConfig(path, env, options));
}

/** `loadConfig` that returns the problems instead of throwing: `nexus-backup config check`. */
export async function inspectConfig(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  options: LoadConfigOptions = {},
): Promise<ConfigInspection> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem =
      code === 'ENOENT'
        ? 'not found'
        : code === 'EISDIR'
          ? 'is a directory, not a file'
          : `cannot be read (${code})`;
    throw new NexusError('CONFIG', `config file ${file} ${problem}`, {
      cause: error,
      hint: 'create nexus-backup.yaml or pass --config FILE',
    });
  }
  return inspectConfigText(text, { ...options, file, env });
}

/** `loadConfig` for text already in memory. */
export function parseConfig(text: string, options: ParseConfigOptions): NexusConfig {
  return configOrThrow(inspectConfigText(text, options));
}

function configOrThrow(inspection: ConfigInspection): NexusConfig {
  const { problems, config, file } = inspection;
  if (problems.length === 1) throw new NexusError('CONFIG', problems[0] as string);
  if (problems.length > 1) {
    throw new NexusError('CONFIG', `${file} has ${problems.length} problems:\n  ${problems.join('\n  ')}`, {
      hint: 'check them all at once with: nexus-backup config check',
    });
  }
  return config as NexusConfig;
}

export function inspectConfigText(text: string, options: ParseConfigOptions): ConfigInspection {
  const file = resolve(options.file);
  const env = options.env ?? process.env;
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  const syntaxError = document.errors[0];
  if (syntaxError) {
    const at = lineCounter.linePos(syntaxError.pos[0]);
    return { file, problems: [`${file}:${at.line}:${at.col}: YAML syntax error: ${syntaxError.message}`] };
  }
  const problems = new ConfigProblems();
  let config: NexusConfig;
  try {
    const raw: unknown = document.toJS({ maxAliasCount: 100 });
    config = validateConfig(interpolateConfig(raw, env, [], problems), {
      file,
      baseDir: dirname(file),
      home: env.HOME,
      problems,
      checkSchedule: options.checkSchedule,
    });
  } catch (error) {
    if (!(error instanceof ConfigKeyError)) {
      throw new NexusError('CONFIG', `${file}: ${(error as Error).message}`, { cause: error });
    }
    problems.add(error);
    return { file, problems: problems.list.map((problem) => locate(problem, document, lineCounter, file)) };
  }
  return {
    file,
    config,
    problems: problems.list.map((problem) => locate(problem, document, lineCounter, file)),
  };
}

function locate(problem: ConfigKeyError, document: Document, lineCounter: LineCounter, file: string): string {
  const at = locateKeyPath(document, lineCounter, problem.keyPath);
  return `${problem.message} (${at ? `${file}:${at.line}:${at.col}` : file})`;
}
