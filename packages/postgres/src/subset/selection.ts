import { NexusError } from '@nexus-backup/core';
import { parseSince, type SinceCutoff } from './since.js';

/** The row-selection options of the postgres source, as declared in `src/index.ts`. */
export interface SelectionOptions {
  since?: string;
  sinceColumn?: string[];
  untimedTables?: string;
  where?: string;
  param?: string[];
  group?: string[];
  profile?: string;
  select?: string;
  conversationId?: string;
  includeChunks?: boolean;
}

/** A table as the user wrote it: `schema.table` or `table` (any schema, must be unique). */
export interface TableName {
  schema?: string;
  name: string;
  text: string;
}

export interface TableColumn {
  table: TableName;
  column: string;
}

/** Rows that start a selection: those of `table` matching `condition` (every row when absent), in the `--since` window when there is one. */
export interface Seed {
  table: TableName;
  condition?: string;
  /** Where the seed was written, for errors: `--where` or `profile claude-nexus, selection conversation`. */
  origin: string;
}

/** Rows related by a shared value instead of a declared foreign key: `from` rows come with selected `to` rows. */
export interface Link {
  from: TableColumn;
  to: TableColumn;
}

/** A validated row selection: which rows seed it, and how it widens (the FK closure always applies). */
export interface RowSelection {
  since?: SinceCutoff;
  sinceColumns: TableColumn[];
  /** A profile's time columns: after `sinceColumns`, and only for the tables the dump has. */
  profileTimeColumns: TableColumn[];
  /** Tables without a time column under `since` alone: every row, or only the rows other rows need. */
  untimedTables: 'whole' | 'referenced';
  /** Empty: `--since` alone, every table by its own time column. */
  seeds: Seed[];
  /** Bound as $1..$n to the seed conditions, never spliced into them. */
  params: string[];
  groups: TableColumn[];
  links: Link[];
  /** Rows that reference a selected row of these tables through any foreign key come along. */
  childrenOf: TableName[];
  /** Rows that reference these tables never come along, not even through ON DELETE CASCADE (chunks unless asked for). */
  noChildrenOf: TableName[];
  /** One line for logs and the manifest, e.g. `since 1 day, groups api_requests.conversation_id`. */
  summary: string;
}

export function usage(message: string, hint: string): NexusError {
  return new NexusError('USAGE', message, { provider: 'postgres', hint });
}

/** The options every selection form shares, checked before anything connects. */
export interface CommonSelection {
  since?: SinceCutoff;
  sinceColumns: TableColumn[];
  untimedTables: 'whole' | 'referenced';
  groups: TableColumn[];
}

export function parseCommonSelection(options: SelectionOptions): CommonSelection {
  const untimedTables = options.untimedTables ?? 'whole';
  if (untimedTables !== 'whole' && untimedTables !== 'referenced') {
    throw usage(
      `--untimed-tables must be whole or referenced, got "${untimedTables}"`,
      'use whole or referenced',
    );
  }
  return {
    ...(options.since === undefined ? {} : { since: parseSince(options.since) }),
    sinceColumns: (options.sinceColumn ?? []).map(parseSinceColumn),
    untimedTables,
    groups: (options.group ?? []).map(parseGroup),
  };
}

/**
 * The generic selection (`--since`, `--where`, `--group`, ...) with no profile; undefined when none
 * is given (a full dump). Names of tables and columns are checked later, against the catalog inside
 * the snapshot.
 */
export function parseGenericSelection(options: SelectionOptions): RowSelection | undefined {
  const common = parseCommonSelection(options);
  const params = options.param ?? [];
  const where = options.where === undefined ? undefined : parseWhere(options.where);
  if (options.includeChunks) {
    throw usage(
      '--include-chunks only applies to --conversation-id or a profile selection with chunks',
      'add --conversation-id UUID (or --select NAME), or drop it',
    );
  }
  if (common.since === undefined && where === undefined) {
    const given = [
      ...(common.groups.length > 0 ? ['--group'] : []),
      ...(common.sinceColumns.length > 0 ? ['--since-column'] : []),
      ...(params.length > 0 ? ['--param'] : []),
      ...(options.untimedTables !== undefined && options.untimedTables !== 'whole'
        ? ['--untimed-tables']
        : []),
    ];
    if (given.length > 0) {
      throw usage(
        `${given.join(', ')} need a selection to work on`,
        'add --since, --where, --select or --conversation-id (without them every row is backed up)',
      );
    }
    return undefined;
  }
  if (params.length > 0 && where === undefined) {
    throw usage(
      '--param values are bound to --where; there is no --where',
      'add --where "TABLE: condition with $1" (or --select NAME with a profile)',
    );
  }
  const seeds: Seed[] = where ? [{ table: where.table, condition: where.condition, origin: '--where' }] : [];
  return finishSelection(
    { ...common, profileTimeColumns: [], seeds, params, links: [], childrenOf: [], noChildrenOf: [] },
    [],
  );
}

/** Adds the one-line summary for logs and the manifest; `lead` names the profile and selection. */
export function finishSelection(selection: Omit<RowSelection, 'summary'>, lead: string[]): RowSelection {
  const { since, seeds, params, groups, untimedTables, noChildrenOf } = selection;
  const summary = [
    ...lead,
    ...seeds.map(
      (seed) =>
        `${seed.condition === undefined ? 'rows of' : 'where'} ${seed.table.text}${seed.condition === undefined ? '' : `: ${seed.condition}`}`,
    ),
    ...(params.length > 0 ? [`${params.length} parameter(s)`] : []),
    ...(since ? [`since ${since.text}`] : []),
    ...(since && seeds.length === 0 ? [`untimed tables ${untimedTables}`] : []),
    ...(groups.length > 0 ? [`groups ${groups.map((g) => `${g.table.text}.${g.column}`).join(', ')}`] : []),
    ...(noChildrenOf.length > 0 ? [`no rows referencing ${noChildrenOf.map((t) => t.text).join(', ')}`] : []),
  ].join('; ');
  return { ...selection, summary };
}

export function tableName(text: string): TableName {
  const trimmed = text.trim();
  const dot = trimmed.indexOf('.');
  return dot === -1
    ? { name: trimmed, text: trimmed }
    : { schema: trimmed.slice(0, dot), name: trimmed.slice(dot + 1), text: trimmed };
}

const NAME = /^[A-Za-z_][A-Za-z0-9_$]*$/;

export function checkName(part: string, flag: string, form: string): void {
  if (!NAME.test(part)) {
    throw usage(`${flag}: "${part}" is not a plain table or column name`, `use ${form}`);
  }
}

/** `schema.table` or `table`, each part a plain name. */
export function parseTable(text: string, flag: string, form: string): TableName {
  const name = tableName(text);
  if (text.trim().split('.').length > 2) throw usage(`${flag}: "${text}" is not a table name`, `use ${form}`);
  for (const part of [name.schema, name.name]) if (part !== undefined) checkName(part, flag, form);
  return name;
}

function parseSinceColumn(text: string): TableColumn {
  const form = '--since-column TABLE=COLUMN (or SCHEMA.TABLE=COLUMN)';
  const [table = '', column = '', ...rest] = text.split('=');
  if (rest.length > 0 || table.trim() === '' || column.trim() === '') {
    throw usage(`--since-column "${text}" is not TABLE=COLUMN`, `use ${form}`);
  }
  const name = tableName(table);
  for (const part of [name.schema, name.name, column.trim()])
    if (part !== undefined) checkName(part, '--since-column', form);
  return { table: name, column: column.trim() };
}

/** `TABLE.COLUMN` or `SCHEMA.TABLE.COLUMN`. */
export function parseTableColumn(text: string, flag: string, form: string): TableColumn {
  const parts = text.trim().split('.');
  if (parts.length < 2 || parts.length > 3)
    throw usage(`${flag} "${text}" is not TABLE.COLUMN`, `use ${form}`);
  for (const part of parts) checkName(part, flag, form);
  const column = parts.pop() as string;
  return { table: tableName(parts.join('.')), column };
}

function parseGroup(text: string): TableColumn {
  return parseTableColumn(
    text,
    '--group',
    '--group TABLE.COLUMN (or SCHEMA.TABLE.COLUMN), e.g. api_requests.conversation_id',
  );
}

function parseWhere(text: string): { table: TableName; condition: string } {
  const colon = text.indexOf(':');
  const table = colon === -1 ? '' : text.slice(0, colon).trim();
  const condition = colon === -1 ? '' : text.slice(colon + 1).trim();
  const form =
    '--where "TABLE: SQL condition", e.g. --where "api_requests: conversation_id = $1" --param <uuid>';
  if (table === '' || condition === '')
    throw usage(`--where "${text}" is not "TABLE: condition"`, `use ${form}`);
  const name = tableName(table);
  for (const part of [name.schema, name.name]) if (part !== undefined) checkName(part, '--where', form);
  return { table: name, condition };
}
