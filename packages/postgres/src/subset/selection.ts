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

/** A validated row selection: which rows seed it, and how it widens (the FK closure always applies). */
export interface RowSelection {
  since?: SinceCutoff;
  sinceColumns: TableColumn[];
  /** Tables without a time column under `since`: every row, or only the rows other rows need. */
  untimedTables: 'whole' | 'referenced';
  where?: { table: TableName; condition: string };
  /** Bound as $1..$n to the `where` condition, never spliced into it. */
  params: string[];
  groups: TableColumn[];
  /** Tables whose rows are not pulled in through ON DELETE CASCADE (chunks unless asked for). */
  noCascadeInto: TableName[];
  /** One line for logs and the manifest, e.g. `since 1 day, groups api_requests.conversation_id`. */
  summary: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The sample service's conversation shorthand: its table, key column and the chunk table. */
export const CONVERSATIONS = { table: 'api_requests', column: 'conversation_id', chunks: 'stream_chunks' };

function usage(message: string, hint: string): NexusError {
  return new NexusError('USAGE', message, { provider: 'postgres', hint });
}

/**
 * Checks the selection options before anything connects; undefined when none is given (a full dump).
 * Names of tables and columns are checked later, against the catalog inside the snapshot.
 */
export function parseSelection(options: SelectionOptions): RowSelection | undefined {
  const sinceColumns = (options.sinceColumn ?? []).map(parseSinceColumn);
  const groups = (options.group ?? []).map(parseGroup);
  const params = options.param ?? [];
  let where = options.where === undefined ? undefined : parseWhere(options.where);
  const noCascadeInto: TableName[] = [];
  if (options.conversationId !== undefined) {
    const id = options.conversationId.trim();
    if (!UUID.test(id)) {
      throw usage(
        `--conversation-id "${options.conversationId}" is not a UUID`,
        'give the conversation id as 8-4-4-4-12 hex digits, e.g. 123e4567-e89b-12d3-a456-426614174000',
      );
    }
    if (where !== undefined || params.length > 0) {
      throw usage(
        '--conversation-id cannot be combined with --where or --param',
        `it means --where "${CONVERSATIONS.table}: ${CONVERSATIONS.column} = $1" --param <uuid>; use one form`,
      );
    }
    where = { table: tableName(CONVERSATIONS.table), condition: `${CONVERSATIONS.column} = $1::uuid` };
    params.push(id.toLowerCase());
    if (!options.includeChunks) noCascadeInto.push(tableName(CONVERSATIONS.chunks));
  } else if (options.includeChunks) {
    throw usage(
      '--include-chunks only applies to --conversation-id',
      'add --conversation-id UUID, or drop it',
    );
  }
  const since = options.since === undefined ? undefined : parseSince(options.since);
  if (since === undefined && where === undefined) {
    const given = [
      ...(groups.length > 0 ? ['--group'] : []),
      ...(sinceColumns.length > 0 ? ['--since-column'] : []),
      ...(params.length > 0 ? ['--param'] : []),
      ...(options.untimedTables !== undefined && options.untimedTables !== 'whole'
        ? ['--untimed-tables']
        : []),
    ];
    if (given.length > 0) {
      throw usage(
        `${given.join(', ')} need a selection to work on`,
        'add --since, --where or --conversation-id (without them every row is backed up)',
      );
    }
    return undefined;
  }
  if (params.length > 0 && where === undefined) {
    throw usage(
      '--param values are bound to --where; there is no --where',
      'add --where "TABLE: condition with $1"',
    );
  }
  const untimedTables = options.untimedTables ?? 'whole';
  if (untimedTables !== 'whole' && untimedTables !== 'referenced') {
    throw usage(
      `--untimed-tables must be whole or referenced, got "${untimedTables}"`,
      'use whole or referenced',
    );
  }
  const summary = [
    ...(where ? [`where ${where.table.text}: ${where.condition}`] : []),
    ...(params.length > 0 ? [`${params.length} parameter(s)`] : []),
    ...(since ? [`since ${since.text}`] : []),
    ...(since && !where ? [`untimed tables ${untimedTables}`] : []),
    ...(groups.length > 0 ? [`groups ${groups.map((g) => `${g.table.text}.${g.column}`).join(', ')}`] : []),
    ...(noCascadeInto.length > 0 ? [`no rows of ${noCascadeInto.map((t) => t.text).join(', ')}`] : []),
  ].join('; ');
  return { since, sinceColumns, untimedTables, where, params, groups, noCascadeInto, summary };
}

export function tableName(text: string): TableName {
  const trimmed = text.trim();
  const dot = trimmed.indexOf('.');
  return dot === -1
    ? { name: trimmed, text: trimmed }
    : { schema: trimmed.slice(0, dot), name: trimmed.slice(dot + 1), text: trimmed };
}

const NAME = /^[A-Za-z_][A-Za-z0-9_$]*$/;

function checkName(part: string, flag: string, form: string): void {
  if (!NAME.test(part)) {
    throw usage(`${flag}: "${part}" is not a plain table or column name`, `use ${form}`);
  }
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

function parseGroup(text: string): TableColumn {
  const form = '--group TABLE.COLUMN (or SCHEMA.TABLE.COLUMN), e.g. api_requests.conversation_id';
  const parts = text.trim().split('.');
  if (parts.length < 2 || parts.length > 3)
    throw usage(`--group "${text}" is not TABLE.COLUMN`, `use ${form}`);
  for (const part of parts) checkName(part, '--group', form);
  const column = parts.pop() as string;
  return { table: tableName(parts.join('.')), column };
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
