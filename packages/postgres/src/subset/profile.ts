import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NexusError } from '@nexus-backup/core';
import {
  checkName,
  type Link,
  parseTable,
  parseTableColumn,
  type TableColumn,
  type TableName,
  usage,
} from './selection.js';

/**
 * A profile: what the postgres source knows of one application's schema, kept out of the source.
 * Written in YAML (see the package README, "Profiles"); the built-in ones are in `../../profiles`.
 */
export interface Profile {
  name: string;
  /** The file it was read from, for errors. */
  file: string;
  description?: string;
  /** A database whose tables include all of these is this application's (`--conversation-id` without `--profile`). */
  recognise: TableName[];
  /** The `--since` column of each table, instead of a guess by name. */
  timeColumns: TableColumn[];
  links: Link[];
  /** The selection `--since` alone means; absent: every table by its time column. */
  since?: string;
  selections: Map<string, ProfileSelection>;
}

export type ParamType = 'uuid' | 'integer' | 'text';

export interface ProfileSelection {
  name: string;
  description?: string;
  /** One entry per `$n` of the conditions, checked before anything connects. */
  params: ParamType[];
  where: { table: TableName; condition: string }[];
  /** With `--since`, the rows of this table in the window seed the selection. */
  window?: TableName;
  groups: TableColumn[];
  children: TableName[];
  /** Rows referencing these tables are the selection's chunks: only with `--include-chunks`. */
  chunks: TableName[];
}

const BUILT_IN = fileURLToPath(new URL('../../profiles/', import.meta.url));
const PARAM_TYPES: readonly ParamType[] = ['uuid', 'integer', 'text'];

/** `claude-nexus` (a built-in profile) or a path to a YAML file (has a slash or a .yaml/.yml ending). */
export async function loadProfile(nameOrPath: string): Promise<Profile> {
  const text = nameOrPath.trim();
  const isPath = text.includes('/') || /\.ya?ml$/i.test(text);
  if (isPath) return readProfile(resolve(text));
  const names = await builtInProfileNames();
  if (!names.includes(text)) {
    throw usage(
      `--profile "${nameOrPath}" is neither a built-in profile nor a file`,
      `built-in profiles: ${names.join(', ')}; or give the path of your own profile (./my-profile.yaml)`,
    );
  }
  return readProfile(resolve(BUILT_IN, `${text}.yaml`));
}

export async function builtInProfiles(): Promise<Profile[]> {
  const names = await builtInProfileNames();
  return Promise.all(names.map((name) => readProfile(resolve(BUILT_IN, `${name}.yaml`))));
}

async function builtInProfileNames(): Promise<string[]> {
  const files = await readdir(BUILT_IN);
  return files
    .filter((file) => extname(file) === '.yaml')
    .map((file) => basename(file, '.yaml'))
    .sort();
}

async function readProfile(file: string): Promise<Profile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new NexusError('USAGE', `--profile: cannot read ${file}: ${(error as Error).message}`, {
      provider: 'postgres',
      cause: error,
      hint: 'give a built-in profile name or the path of a readable YAML file',
    });
  }
  // Loaded here, not with the module: every CLI run loads this provider, few read a profile file,
  // and the yaml package's ~70 modules cost ~35 ms of each start (core loads it lazily too).
  const { parse: parseYaml } = await import('yaml');
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new NexusError('USAGE', `profile ${file} is not valid YAML: ${(error as Error).message}`, {
      provider: 'postgres',
      cause: error,
      hint: 'fix the YAML syntax at the line named',
    });
  }
  return validateProfile(document, file);
}

/** Checks a parsed profile strictly: an unknown key or a wrong shape is an error naming its path. */
export function validateProfile(document: unknown, file: string): Profile {
  const fail = (
    path: string,
    problem: string,
    hint = 'see "Profiles" in the @nexus-backup/postgres README',
  ): never => {
    throw usage(`profile ${file}: ${path ? `${path}: ` : ''}${problem}`, hint);
  };
  /** A mapping whose keys are all `known` (any key: 'any') and that has every `required` one. */
  const map = (
    value: unknown,
    path: string,
    known: readonly string[] | 'any',
    required: readonly string[] = [],
  ) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      return fail(path, 'must be a mapping (key: value)');
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record))
      if (known !== 'any' && !known.includes(key))
        fail(path ? `${path}.${key}` : key, `unknown key; known keys: ${known.join(', ')}`);
    for (const key of required)
      if (record[key] === undefined || record[key] === null)
        fail(path ? `${path}.${key}` : key, 'is required');
    return record;
  };
  const string = (value: unknown, path: string): string =>
    typeof value === 'string' && value.trim() !== '' ? value : fail(path, 'must be a non-empty string');
  const list = (value: unknown, path: string): unknown[] =>
    value === undefined ? [] : Array.isArray(value) ? value : fail(path, 'must be a list');
  // Table and column names reuse the flags' checks, their messages re-based on the key path.
  const named = <T>(path: string, parseName: () => T): T => {
    try {
      return parseName();
    } catch (error) {
      const { message, hint } = error as NexusError;
      const own = message.startsWith(`${path}: `) || message.startsWith(`${path} `);
      return fail(path, own ? message.slice(path.length).replace(/^:? /, '') : message, hint);
    }
  };
  const table = (value: unknown, path: string) => {
    const text = string(value, path);
    return named(path, () => parseTable(text, path, 'TABLE or SCHEMA.TABLE'));
  };
  const tableColumn = (value: unknown, path: string) => {
    const text = string(value, path);
    return named(path, () => parseTableColumn(text, path, 'TABLE.COLUMN'));
  };

  const root = map(
    document,
    '',
    ['name', 'description', 'recognise', 'timeColumns', 'links', 'since', 'selections'],
    ['selections'],
  );
  const name = root.name === undefined ? basename(file).replace(/\.ya?ml$/i, '') : string(root.name, 'name');
  const timeColumns = Object.entries(map(root.timeColumns ?? {}, 'timeColumns', 'any')).map(
    ([key, column]) => {
      const path = `timeColumns.${key}`;
      const name = string(column, path).trim();
      return {
        table: table(key, path),
        column: named(path, () => {
          checkName(name, path, 'a column name');
          return name;
        }),
      };
    },
  );
  const links = list(root.links, 'links').map((entry, i) => {
    const link = map(entry, `links[${i}]`, ['from', 'to'], ['from', 'to']);
    return { from: tableColumn(link.from, `links[${i}].from`), to: tableColumn(link.to, `links[${i}].to`) };
  });
  const selectionsMap = map(root.selections, 'selections', 'any');
  const selections = new Map<string, ProfileSelection>();
  for (const [key, value] of Object.entries(selectionsMap)) {
    const path = `selections.${key}`;
    const entry = map(value, path, [
      'description',
      'params',
      'where',
      'window',
      'groups',
      'children',
      'chunks',
    ]);
    const params = list(entry.params, `${path}.params`).map((type, i) =>
      PARAM_TYPES.includes(type as ParamType)
        ? (type as ParamType)
        : fail(`${path}.params[${i}]`, `must be one of ${PARAM_TYPES.join(', ')}`),
    );
    const whereMap = map(entry.where ?? {}, `${path}.where`, 'any');
    const where = Object.entries(whereMap).map(([tableText, condition]) => ({
      table: table(tableText, `${path}.where.${tableText}`),
      condition: string(condition, `${path}.where.${tableText}`),
    }));
    const window = entry.window === undefined ? undefined : table(entry.window, `${path}.window`);
    if (where.length === 0 && window === undefined)
      fail(
        path,
        'selects nothing',
        'give it where (TABLE: SQL condition) or window (a table whose rows in the --since window start it)',
      );
    const used = Math.max(
      0,
      ...where.flatMap((w) => [...w.condition.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]))),
    );
    if (used !== params.length)
      fail(
        `${path}.params`,
        `lists ${params.length} parameter(s) but the conditions use $1..$${used}`,
        'give one type (uuid, integer, text) per $n',
      );
    selections.set(key, {
      name: key,
      ...(entry.description === undefined
        ? {}
        : { description: string(entry.description, `${path}.description`) }),
      params,
      where,
      ...(window ? { window } : {}),
      groups: list(entry.groups, `${path}.groups`).map((g, i) => tableColumn(g, `${path}.groups[${i}]`)),
      children: list(entry.children, `${path}.children`).map((t, i) => table(t, `${path}.children[${i}]`)),
      chunks: list(entry.chunks, `${path}.chunks`).map((t, i) => table(t, `${path}.chunks[${i}]`)),
    });
  }
  if (selections.size === 0) fail('selections', 'is empty', 'declare at least one named selection');
  const since = root.since === undefined ? undefined : string(root.since, 'since');
  if (since !== undefined && !selections.has(since))
    fail('since', `names no selection; selections: ${[...selections.keys()].join(', ')}`);
  return {
    name,
    file,
    ...(root.description === undefined ? {} : { description: string(root.description, 'description') }),
    recognise: list(root.recognise, 'recognise').map((t, i) => table(t, `recognise[${i}]`)),
    timeColumns,
    links,
    ...(since ? { since } : {}),
    selections,
  };
}
