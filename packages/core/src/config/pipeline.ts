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
import { closestName } from './suggest.js';
import type { CheckConfig, PipelineConfig, ProviderUse, RepositoryConfig } from './types.js';

const PIPELINE_KEYS = ['source', 'transforms', 'to', 'retention', 'schedule', 'check', 'drill'];
const RETENTION_KEYS = [...RETENTION_COUNT_RULES, ...RETENTION_WITHIN_RULES];

export interface PipelineContext {
  repositories: Record<string, RepositoryConfig>;
  resolveLocation: (text: string) => string;
}

export function validatePipeline(name: string, value: unknown, context: PipelineContext): PipelineConfig {
  const path: KeyPath = ['pipelines', name];
  const pipeline = expectMap(value, path, PIPELINE_KEYS, ['source', 'to']);
  const config: PipelineConfig = {
    name,
    source: validateProviderUse(pipeline.source, [...path, 'source']),
    transforms: expectList(pipeline.transforms, [...path, 'transforms']).map((entry, index) =>
      validateProviderUse(entry, [...path, 'transforms', index]),
    ),
    to: validateTargets(pipeline.to, [...path, 'to'], context),
    path: formatKeyPath(path),
  };
  if (pipeline.retention !== undefined && pipeline.retention !== null) {
    config.retention = validateRetention(pipeline.retention, [...path, 'retention']);
  }
  if (pipeline.schedule !== undefined && pipeline.schedule !== null) {
    config.schedule = expectString(pipeline.schedule, [...path, 'schedule'], '"0 2 * * *"');
  }
  if (pipeline.check !== undefined && pipeline.check !== null) {
    config.check = validateCheck(pipeline.check, [...path, 'check']);
  }
  if (pipeline.drill !== undefined && pipeline.drill !== null) {
    config.drill = validateDrill(pipeline.drill, [...path, 'drill']);
  }
  return config;
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
  return targets.map((target, index) => {
    const at: KeyPath = [...path, index];
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
  });
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
    check.minSize = expectInteger(entries.minSize, [...path, 'minSize'], 0);
  }
  return check;
}
