import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { interpolateConfig } from './config/interpolate.js';
import { ConfigKeyError, locateKeyPath } from './config/key-path.js';
import type { NexusConfig } from './config/types.js';
import { validateConfig } from './config/validate.js';
import { NexusError } from './errors.js';

export type { HealthCheckConfig, RecoveryConfig, RecoveryItemConfig } from './config/recovery.js';
export * from './config/types.js';

export interface ParseConfigOptions {
  /** The file name used in messages and the base for relative paths. */
  file: string;
  env?: NodeJS.ProcessEnv;
}

/** Reads, interpolates and validates a config file. Every problem is a NexusError CONFIG saying where. */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<NexusConfig> {
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
  return parseConfig(text, { file, env });
}

/** `loadConfig` for text already in memory. */
export function parseConfig(text: string, options: ParseConfigOptions): NexusConfig {
  const file = resolve(options.file);
  const env = options.env ?? process.env;
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  const syntaxError = document.errors[0];
  if (syntaxError) {
    const at = lineCounter.linePos(syntaxError.pos[0]);
    throw new NexusError(
      'CONFIG',
      `${file}:${at.line}:${at.col}: YAML syntax error: ${syntaxError.message}`,
      {
        cause: syntaxError,
      },
    );
  }
  try {
    const raw: unknown = document.toJS({ maxAliasCount: 100 });
    return validateConfig(interpolateConfig(raw, env), { file, baseDir: dirname(file), home: env.HOME });
  } catch (error) {
    if (!(error instanceof ConfigKeyError)) {
      throw new NexusError('CONFIG', `${file}: ${(error as Error).message}`, { cause: error });
    }
    const at = locateKeyPath(document, lineCounter, error.keyPath);
    const where = at ? `${file}:${at.line}:${at.col}` : file;
    throw new NexusError('CONFIG', `${error.message} (${where})`, { cause: error });
  }
}
