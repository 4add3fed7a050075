import { ConfigKeyError, type KeyPath } from './key-path.js';
import type { ConfigProblems } from './problems.js';

const REFERENCE = /(\$?)\$\{([^}]*)(\}?)/g;
const VARIABLE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;
// biome-ignore lint/suspicious/noTemplateCurlyInString: the config file's own ${VAR} syntax, not a template
const FORMS = 'use ${NAME}, ${NAME:-default}, or $${...} for a literal ${...}';

/**
 * Replaces `${NAME}` and `${NAME:-default}` (default when unset or empty, as in a shell) in every
 * string value of the parsed config; `$${...}` stays a literal `${...}`. Keys are not interpolated, and
 * substitution happens after YAML parsing, so a value with quotes or newlines cannot change the
 * structure of the file. Errors name the variable and the key, never a value.
 */
export function interpolateConfig(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: KeyPath = [],
  problems?: ConfigProblems,
): unknown {
  if (typeof value === 'string') {
    if (!problems) return interpolateString(value, env, path);
    // Collecting: an unset variable is reported once and the text kept as written for the later checks.
    return problems.attempt(() => interpolateString(value, env, path)) ?? value;
  }
  if (Array.isArray(value))
    return value.map((item, index) => interpolateConfig(item, env, [...path, index], problems));
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        interpolateConfig(item, env, [...path, key], problems),
      ]),
    );
  }
  return value;
}

export function interpolateString(text: string, env: NodeJS.ProcessEnv, path: KeyPath): string {
  return text.replace(REFERENCE, (whole, escaped: string, inside: string, close: string) => {
    if (escaped) return whole.slice(1);
    if (!close) throw new ConfigKeyError(path, `"\${" without a closing "}"; ${FORMS}`);
    const match = VARIABLE.exec(inside);
    if (!match) throw new ConfigKeyError(path, `"\${${inside}}" is not a variable reference; ${FORMS}`);
    const [, name = '', fallback] = match;
    const current = env[name];
    if (fallback !== undefined) return current === undefined || current === '' ? fallback : current;
    if (current === undefined) {
      throw new ConfigKeyError(
        path,
        `environment variable ${name} is not set; set it, or give a default with \${${name}:-default}`,
      );
    }
    return current;
  });
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
