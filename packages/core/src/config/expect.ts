import { isPlainObject } from './interpolate.js';
import { ConfigKeyError, type KeyPath } from './key-path.js';
import type { ConfigProblems } from './problems.js';
import { closestName } from './suggest.js';

/*
 * Readers for parsed config values. Each returns the typed value or throws ConfigKeyError naming the
 * key path and what to write instead. String values are never echoed: after interpolation they may
 * hold a secret (a database URL with a password, a webhook token).
 */

export function describeType(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (isPlainObject(value)) return 'a mapping';
  return `a ${typeof value}`;
}

/**
 * A mapping whose keys are all in `known` and that has every key in `required`. With `problems`, every
 * unknown and missing key is recorded and the mapping returned, so its other keys are still checked.
 */
export function expectMap(
  value: unknown,
  path: KeyPath,
  known: readonly string[] | 'any',
  required: readonly string[] = [],
  problems?: ConfigProblems,
): Record<string, unknown> {
  if (!isPlainObject(value))
    throw new ConfigKeyError(path, `must be a mapping (key: value), got ${describeType(value)}`);
  const report = (problem: ConfigKeyError) => {
    if (!problems) throw problem;
    problems.add(problem);
  };
  if (known !== 'any') {
    for (const key of Object.keys(value)) {
      if (known.includes(key)) continue;
      const guess = closestName(key, known);
      const fix = guess ? `did you mean ${guess}?` : `known keys: ${known.join(', ')}`;
      report(new ConfigKeyError([...path, key], `unknown key; ${fix}`));
    }
  }
  for (const key of required) {
    if (value[key] === undefined || value[key] === null)
      report(new ConfigKeyError([...path, key], 'is required'));
  }
  return value;
}

export function expectString(value: unknown, path: KeyPath, example: string): string {
  if (typeof value !== 'string')
    throw new ConfigKeyError(path, `must be a string like ${example}, got ${describeType(value)}`);
  if (value.trim() === '') throw new ConfigKeyError(path, `is empty; expected a string like ${example}`);
  return value;
}

export function expectBoolean(value: unknown, path: KeyPath): boolean {
  if (typeof value !== 'boolean')
    throw new ConfigKeyError(path, `must be true or false, got ${describeType(value)}`);
  return value;
}

/** A whole number >= `min`; numeric strings are accepted because `${VAR}` always yields a string. */
export function expectInteger(value: unknown, path: KeyPath, min: number): number {
  const number = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < min) {
    const shown = typeof value === 'number' ? String(value) : describeType(value);
    throw new ConfigKeyError(path, `must be a whole number >= ${min}, got ${shown}`);
  }
  return number;
}

/** A list; a single value is accepted as a list of one (`on: failure`). Null or absent gives []. */
export function expectList(value: unknown, path: KeyPath, { single = false } = {}): unknown[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value;
  if (single && !isPlainObject(value)) return [value];
  throw new ConfigKeyError(path, `must be a list ([a, b] or "- item" lines), got ${describeType(value)}`);
}

/** Runs a parser that throws a NexusError (e.g. parseDuration) and re-throws it at `path`. */
export function atPath<T>(path: KeyPath, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new ConfigKeyError(path, (error as Error).message, { cause: error });
  }
}
