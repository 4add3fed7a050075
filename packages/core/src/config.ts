import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Document, LineCounter } from 'yaml';
import { interpolateConfig } from './config/interpolate.js';
import { ConfigKeyError, locateKeyPath } from './config/key-path.js';
import { ConfigProblems } from './config/problems.js';
import type { NexusConfig } from './config/types.js';
import { validateConfig } from './config/validate.js';
import { yamlLibrary } from './config/yaml-library.js';
import { NexusError } from './errors.js';

export type { HealthCheckConfig, RecoveryConfig, RecoveryItemConfig } from './config/recovery.js';
export * from './config/types.js';

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
  const { LineCounter, parseDocument } = yamlLibrary();
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
