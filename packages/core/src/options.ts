import { NexusError } from './errors.js';

/** A plain decimal number as a person writes it: 5, -1, 0.5. */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/**
 * A provider's options declaration. Config keys are the option names (camelCase); CLI flags are the
 * same names in kebab-case (`createDb` -> `--create-db`). Help and validation come from here too.
 */
export type OptionType = 'string' | 'number' | 'boolean' | 'string[]';

export interface OptionSpec {
  type: OptionType;
  description: string;
  default?: string | number | boolean | string[];
  required?: boolean;
  /** Secrets are refused on the command line and never logged or written to a manifest. */
  secret?: boolean;
  /** Environment variable used when the option is not given, e.g. `DATABASE_URL`. */
  env?: string;
  /** Takes the command's positional arguments (at most one option per declaration). */
  positional?: boolean;
  choices?: readonly string[];
  /** A one-letter CLI alias, e.g. `o` for `-o, --output` (commands only; sources keep long flags). */
  short?: string;
  /** Placeholder shown in help, e.g. `URL`. */
  placeholder?: string;
  /**
   * A string option whose flag may be given without a value (`--create-db` or `--create-db NAME`);
   * without one its value is `''`, meaning "the provider picks", e.g. a default database name.
   */
  valueOptional?: boolean;
  /** A list flag splits its value on commas (`--tables a,b`) unless false (values that may hold commas). */
  commaSeparated?: boolean;
  /** Number rules, checked with the type: `{ integer: true, min: 1, max: 9 }` -> "a whole number from 1 to 9". */
  integer?: boolean;
  min?: number;
  max?: number;
  /** A string value must match this, e.g. `/^[a-z_]+$/`. */
  pattern?: RegExp;
  /**
   * A rule over several options (`scryptLogN` with `scryptR`): called with every resolved value once
   * all of them are resolved, and only when this option has a value. Returns what is wrong, worded to
   * follow the provider's name (`scrypt N=2^22 r=16 needs more than 2 GiB of memory`), or undefined.
   */
  check?(values: Readonly<Record<string, unknown>>): string | undefined;
}

export type OptionsSpec = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S['type'] extends 'number'
  ? number
  : S['type'] extends 'boolean'
    ? boolean
    : S['type'] extends 'string[]'
      ? string[]
      : string;

type IsPresent<S extends OptionSpec> = S extends { required: true }
  ? true
  : S extends { default: unknown }
    ? true
    : false;

/** The validated options object a provider's `create` receives. */
export type OptionValues<O extends OptionsSpec = OptionsSpec> = string extends keyof O
  ? Record<string, unknown> // an unknown declaration: values are only known at run time
  : KnownOptionValues<O>;

type KnownOptionValues<O extends OptionsSpec> = {
  [K in keyof O as IsPresent<O[K]> extends true ? K : never]: ValueOf<O[K]>;
} & {
  [K in keyof O as IsPresent<O[K]> extends true ? never : K]?: ValueOf<O[K]>;
};

export function kebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

export function camelCase(flag: string): string {
  return flag.replace(/^-+/, '').replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

export interface ResolveOptionsInput {
  /** Where the values came from, for error messages: `pipelines.db.source` or `backup postgres`. */
  path: string;
  provider: string;
  values: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** CLI values arrive as strings and are coerced; config values must already have the right type. */
  fromCli?: boolean;
  /** The flag each option was given as, where it is not `--<option>` (`--gzip-parallel` for gzip's `parallel`). */
  flagNames?: Readonly<Record<string, string>>;
}

/**
 * Validates values against a declaration: unknown keys, missing required options, wrong types and
 * bad choices each give one error naming the path of the bad key.
 */
export function resolveOptions<O extends OptionsSpec>(spec: O, input: ResolveOptionsInput): OptionValues<O> {
  const { path, provider, values, env = process.env, fromCli = false } = input;
  const code = fromCli ? 'USAGE' : 'CONFIG';
  const result: Record<string, unknown> = {};
  for (const key of Object.keys(values)) {
    if (values[key] === undefined) continue;
    if (!(key in spec)) {
      const known = Object.keys(spec).join(', ') || '(none)';
      const shown = fromCli ? (input.flagNames?.[key] ?? `--${kebabCase(key)}`) : `${path}.${key}`;
      throw new NexusError(code, `unknown option ${shown} for ${provider}; known options: ${known}`, {
        provider,
      });
    }
  }
  for (const [name, option] of Object.entries(spec)) {
    const shown = fromCli ? (input.flagNames?.[name] ?? `--${kebabCase(name)}`) : `${path}.${name}`;
    let value = values[name];
    if (value === undefined && option.env && env[option.env] !== undefined && env[option.env] !== '') {
      value = env[option.env];
      if (option.type !== 'string') value = coerce(option, String(value), `$${option.env}`, provider, code);
    } else if (
      typeof value === 'string' &&
      (fromCli || option.type === 'number' || option.type === 'boolean')
    ) {
      // Config values arrive as strings after `${VAR}` interpolation, CLI values always do.
      value = coerce(option, value, shown, provider, code);
    }
    if (value === true && option.type === 'string' && option.valueOptional) value = '';
    if (value === undefined) value = option.default;
    if (value === undefined) {
      if (option.required) throw missingRequired(name, option, { shown, path, provider, code, fromCli });
      continue;
    }
    checkType(option, value, shown, provider, code);
    const problem = ruleProblem(option, value);
    if (problem) {
      // `gzip level must be ...`: the provider's own words; a config path says where the value was.
      const where = fromCli ? '' : ` (${shown})`;
      throw new NexusError(code, `${provider} ${name} ${problem}${where}`, { provider });
    }
    result[name] = value;
  }
  const problem = crossOptionProblem(spec, result);
  if (problem) {
    const where = fromCli ? '' : ` (${path}.${problem.name})`;
    throw new NexusError(code, `${provider} ${problem.text}${where}`, { provider });
  }
  return result as OptionValues<O>;
}

/** The first declared `check` that finds a problem, with the option that declares it. */
function crossOptionProblem(
  spec: OptionsSpec,
  values: Record<string, unknown>,
): { name: string; text: string } | undefined {
  for (const [name, option] of Object.entries(spec)) {
    if (!option.check || values[name] === undefined) continue;
    const text = option.check(values);
    if (text) return { name, text };
  }
  return undefined;
}

/** A positional option is given as the command's arguments on the command line, never as a flag. */
function missingRequired(
  name: string,
  option: OptionSpec,
  where: { shown: string; path: string; provider: string; code: 'USAGE' | 'CONFIG'; fromCli: boolean },
): NexusError {
  const { shown, path, provider, code, fromCli } = where;
  const from = option.env ? ` (or set $${option.env})` : '';
  if (option.positional && fromCli) {
    const placeholder = option.placeholder ?? name.toUpperCase();
    const many = option.type === 'string[]' ? ` [${placeholder}...]` : '';
    return new NexusError(code, `missing ${name}${from} for ${provider}`, {
      provider,
      hint: `pass them as arguments: nexus-backup ${path} ${placeholder}${many} ...`,
    });
  }
  return new NexusError(code, `missing required option ${shown}${from} for ${provider}`, { provider });
}

function coerce(
  option: OptionSpec,
  raw: string,
  shown: string,
  provider: string,
  code: 'USAGE' | 'CONFIG',
): unknown {
  switch (option.type) {
    case 'number': {
      const number = Number(raw);
      // Number() also takes "0x10", "1e3" and "Infinity": a typo must not become another value.
      if (!DECIMAL.test(raw.trim()) || !Number.isFinite(number)) {
        throw new NexusError(code, `${shown} must be a number, got "${raw}"`, { provider });
      }
      return number;
    }
    case 'boolean':
      if (['true', '1', 'yes', ''].includes(raw)) return true;
      if (['false', '0', 'no'].includes(raw)) return false;
      throw new NexusError(code, `${shown} must be true or false, got "${raw}"`, { provider });
    case 'string[]':
      return option.commaSeparated === false ? [raw] : raw.split(',').filter((part) => part !== '');
    default:
      return raw;
  }
}

function checkType(
  option: OptionSpec,
  value: unknown,
  shown: string,
  provider: string,
  code: 'USAGE' | 'CONFIG',
) {
  const ok =
    option.type === 'string[]'
      ? Array.isArray(value) && value.every((item) => typeof item === 'string')
      : typeof value === option.type;
  if (!ok) {
    const expected = option.type === 'string[]' ? 'a list of strings' : `a ${option.type}`;
    throw new NexusError(code, `${shown} must be ${expected}, got ${JSON.stringify(value)}`, { provider });
  }
  if (option.choices && !option.choices.includes(value as string)) {
    throw new NexusError(
      code,
      `${shown} must be one of ${option.choices.join(', ')}, got "${String(value)}"`,
      {
        provider,
      },
    );
  }
}

/** What is wrong with a value of the right type under the option's declared rules, e.g. `must be a whole number from 1 to 9, got 0`. */
export function ruleProblem(option: OptionSpec, value: unknown): string | undefined {
  if (typeof value === 'number') {
    const { integer, min, max } = option;
    const broken =
      (integer === true && !Number.isInteger(value)) ||
      (min !== undefined && value < min) ||
      (max !== undefined && value > max);
    if (!broken) return undefined;
    const kind = integer ? 'a whole number' : 'a number';
    const range =
      min !== undefined && max !== undefined
        ? ` from ${min} to ${max}`
        : min !== undefined
          ? ` of at least ${min}`
          : max !== undefined
            ? ` of at most ${max}`
            : '';
    return `must be ${kind}${range}, got ${value}`;
  }
  if (typeof value === 'string' && option.pattern && !option.pattern.test(value)) {
    return `must match ${String(option.pattern)}, got "${value}"`;
  }
  return undefined;
}

/**
 * The declared rules for values that did not come through `resolveOptions` (a script or test calling
 * a definition's `create` directly): the same check and message, so a provider needs no checks of its own.
 */
export function checkOptionRules(spec: OptionsSpec, values: Record<string, unknown>, provider: string): void {
  for (const [name, option] of Object.entries(spec)) {
    const problem = values[name] === undefined ? undefined : ruleProblem(option, values[name]);
    if (problem) throw new NexusError('USAGE', `${provider} ${name} ${problem}`, { provider });
  }
  const problem = crossOptionProblem(spec, values);
  if (problem) throw new NexusError('USAGE', `${provider} ${problem.text}`, { provider });
}

/** Options with their secret values replaced, safe for manifests and logs. */
export function redactOptions(spec: OptionsSpec, values: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(values)) result[name] = spec[name]?.secret ? '***' : value;
  return result;
}

/**
 * The declared defaults only, without checking required options: what a provider is created with when
 * it is used for restore or decode, where everything it needs comes from the target options or the manifest.
 */
export function defaultOptions<O extends OptionsSpec>(spec: O): OptionValues<O> {
  const values: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(spec))
    if (option.default !== undefined) values[name] = option.default;
  return values as OptionValues<O>;
}
