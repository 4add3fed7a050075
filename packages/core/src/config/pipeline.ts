import { parseByteSize } from '../byte-size.js';
import { parseDurationMs } from '../duration.js';
import {
  isRetentionRule,
  parseRetentionValue,
  RETENTION_COUNT_RULES,
  RETENTION_WITHIN_RULES,
  type RetentionPolicy,
} from '../retention.js';
import { validateDrill } from './drill.js';
import { atPath, describeType, expectInteger, expectList, expectMap, expectString } from './expect.js';
import { ConfigKeyError, formatKeyPath, type KeyPath } from './key-path.js';
import { checkLocation, isUrl, looksLikePath } from './locations.js';
import type { ConfigProblems } from './problems.js';
import { closestName } from './suggest.js';
import type { CheckConfig, PipelineConfig, ProviderUse, RepositoryConfig } from './types.js';

const PIPELINE_KEYS = ['source', 'transforms', 'to', 'retention', 'schedule', 'check', 'drill'];
const RETENTION_KEYS = [...RETENTION_COUNT_RULES, ...RETENTION_WITHIN_RULES];

export interface PipelineContext {
  repositories: Record<string, RepositoryConfig>;
  resolveLocation: (text: string) => string;
  /** Every problem is recorded here. */
  problems: ConfigProblems;
  /** Throws with what is wrong when a `schedule:` is not a cron expression the scheduler accepts. */
  checkSchedule?: ((expression: string) => void) | undefined;
}

/**
 * Without `transforms:` a pipeline is compressed as the CLI's `backup` is by default: gzip, or the
 * source's preferred compressor when installed (postgres: zstd); `transforms: []` stores the bytes as they are.
 */
export const DEFAULT_TRANSFORMS: readonly string[] = ['gzip'];

export function validatePipeline(
  name: string,
  value: unknown,
  context: PipelineContext,
): PipelineConfig | undefined {
  const path: KeyPath = ['pipelines', name];
  const { problems } = context;
  const pipeline = problems.attempt(() => expectMap(value, path, PIPELINE_KEYS, ['source', 'to'], problems));
  if (!pipeline) return undefined;
  const source =
    pipeline.source === undefined || pipeline.source === null
      ? undefined
      : problems.attempt(() => validateProviderUse(pipeline.source, [...path, 'source']));
  const transformsPath: KeyPath = [...path, 'transforms'];
  const transforms =
    pipeline.transforms === undefined
      ? DEFAULT_TRANSFORMS.map((use) => ({
          use,
          options: {},
          path: `${formatKeyPath(transformsPath)} (default)`,
        }))
      : (problems.attempt(() => expectList(pipeline.transforms, transformsPath)) ?? []).flatMap(
          (entry, index) => {
            const use = problems.attempt(() => validateProviderUse(entry, [...transformsPath, index]));
            return use ? [use] : [];
          },
        );
  const to =
    pipeline.to === undefined || pipeline.to === null
      ? []
      : (problems.attempt(() => validateTargets(pipeline.to, [...path, 'to'], context)) ?? []);
  const config: Partial<PipelineConfig> & { name: string } = {
    name,
    transforms,
    ...(pipeline.transforms === undefined ? { transformsDefaulted: true } : {}),
    to,
    path: formatKeyPath(path),
  };
  if (source) config.source = source;
  if (pipeline.retention !== undefined && pipeline.retention !== null) {
    const retention = problems.attempt(() => validateRetention(pipeline.retention, [...path, 'retention']));
    if (retention) config.retention = retention;
  }
  if (pipeline.schedule !== undefined && pipeline.schedule !== null) {
    const schedule = problems.attempt(() =>
      validateSchedule(pipeline.schedule, [...path, 'schedule'], context),
    );
    if (schedule) config.schedule = schedule;
  }
  if (pipeline.check !== undefined && pipeline.check !== null) {
    const check = problems.attempt(() => validateCheck(pipeline.check, [...path, 'check']));
    if (check) config.check = check;
  }
  if (pipeline.drill !== undefined && pipeline.drill !== null) {
    const drill = context.problems.attempt(() => validateDrill(pipeline.drill, [...path, 'drill']));
    if (drill) config.drill = drill;
  }
  // With problems elsewhere in it, a pipeline is still returned when its source validated, so
  // `config check` can check its providers too; loading a config with any problem fails anyway.
  return source ? (config as PipelineConfig) : undefined;
}

function validateSchedule(value: unknown, path: KeyPath, context: PipelineContext): string {
  const schedule = expectString(value, path, '"0 2 * * *"');
  if (context.checkSchedule) atPath(path, () => context.checkSchedule?.(schedule));
  return schedule;
}

/** `{ use: gzip, level: 6 }` or just `gzip`: the provider name plus its (not yet checked) options. */
function validateProviderUse(value: unknown, path: KeyPath): ProviderUse {
  if (typeof value === 'string')
    return { use: expectString(value, path, 'gzip'), options: {}, path: formatKeyPath(path) };
  const entry = expectMap(value, path, 'any', ['use']);
  const { use, ...options } = entry;
  return { use: expectString(use, [...path, 'use'], 'postgres'), options, path: formatKeyPath(path) };
}

/** Each target is a repository name from `repositories:` or a URL or path written in place. */
function validateTargets(value: unknown, path: KeyPath, context: PipelineContext): RepositoryConfig[] {
  const targets = expectList(value, path, { single: true });
  if (targets.length === 0) throw new ConfigKeyError(path, 'is empty; name at least one repository');
  const known = Object.keys(context.repositories);
  return targets.flatMap((target, index) => {
    const checked = context.problems.attempt(() => validateTarget(target, [...path, index], context, known));
    return checked ? [checked] : [];
  });
}

function validateTarget(
  target: unknown,
  at: KeyPath,
  context: PipelineContext,
  known: string[],
): RepositoryConfig {
  const text = expectString(target, at, 'a repository name, a URL or a path');
  const named = Object.hasOwn(context.repositories, text) ? context.repositories[text] : undefined;
  if (named) return named;
  if (isUrl(text) || looksLikePath(text)) {
    return {
      url: checkLocation(text, context.resolveLocation, at),
      optional: false,
      path: formatKeyPath(at),
    };
  }
  const guess = closestName(text, known);
  const fix = guess ? `did you mean ${guess}? ` : '';
  const list = known.length > 0 ? `known repositories: ${known.join(', ')}` : 'no repositories are defined';
  throw new ConfigKeyError(
    at,
    `unknown repository "${text}"; ${fix}(${list}; a directory is written ./${text})`,
  );
}

function validateRetention(value: unknown, path: KeyPath): RetentionPolicy {
  const entries = expectMap(value, path, RETENTION_KEYS);
  const policy: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(entries)) {
    if (!isRetentionRule(key) || raw === null || raw === undefined) continue;
    policy[key] = atPath([...path, key], () => parseRetentionValue(key, raw));
  }
  const keepsSomething = Object.values(policy).some((rule) => rule !== 0);
  if (!keepsSomething) {
    throw new ConfigKeyError(
      path,
      `keeps nothing, which would remove every backup; set at least one of ${RETENTION_KEYS.join(', ')}`,
    );
  }
  return policy as RetentionPolicy;
}

function validateCheck(value: unknown, path: KeyPath): CheckConfig {
  const entries = expectMap(value, path, ['maxAge', 'minSize']);
  const check: CheckConfig = {};
  if (entries.maxAge !== undefined && entries.maxAge !== null) {
    const maxAge = entries.maxAge;
    if (typeof maxAge !== 'string') {
      throw new ConfigKeyError(
        [...path, 'maxAge'],
        `must be a duration like 26h or 2d, got ${describeType(maxAge)}`,
      );
    }
    check.maxAgeMs = atPath([...path, 'maxAge'], () => parseDurationMs(maxAge));
  }
  if (entries.minSize !== undefined && entries.minSize !== null) {
    const minSize = entries.minSize;
    // `minSize: 10MB` as on the command line; a plain number (or `${VAR}` digits) is bytes.
    check.minSize =
      typeof minSize === 'string' && /[a-z]/i.test(minSize)
        ? atPath([...path, 'minSize'], () => parseByteSize(minSize))
        : expectInteger(minSize, [...path, 'minSize'], 0);
  }
  return check;
}
