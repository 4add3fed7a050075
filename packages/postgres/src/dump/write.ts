import type { DumpObject } from './model.js';
import type { Snapshot } from './snapshot.js';

/** Session settings at the top of the file, so psql and our restore load it the same way. */
function header(snapshot: Snapshot, dataOnly: boolean): string {
  return [
    '--',
    '-- PostgreSQL database dump written by nexus-backup (plain SQL: restore with `psql -v ON_ERROR_STOP=1 -f FILE`)',
    `-- Server ${snapshot.serverVersion}, database ${oneLine(snapshot.database)}, snapshot ${snapshot.id} at ${snapshot.takenAt}`,
    '--',
    '',
    'SET statement_timeout = 0;',
    'SET lock_timeout = 0;',
    'SET idle_in_transaction_session_timeout = 0;',
    "SET client_encoding = 'UTF8';",
    'SET standard_conforming_strings = on;',
    "SELECT pg_catalog.set_config('search_path', '', false);",
    'SET check_function_bodies = false;',
    'SET xmloption = content;',
    'SET client_min_messages = warning;',
    'SET row_security = off;',
    // Data for an existing schema: deferrable foreign keys are checked at commit (psql -1, or our restore).
    ...(dataOnly ? ['SET CONSTRAINTS ALL DEFERRED;'] : []),
    '',
    '',
  ].join('\n');
}

/** Names may hold any character; a newline in a `--` comment would turn the rest into SQL. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

const LABEL: Record<string, string> = {
  'table-data': 'DATA',
  'sequence-set': 'SEQUENCE SET',
  'foreign-key': 'FK CONSTRAINT',
  'index-attach': 'INDEX ATTACH',
  'row-security': 'ROW SECURITY',
  'large-object': 'LARGE OBJECT',
  'publication-member': 'PUBLICATION TABLES',
  'default-acl': 'DEFAULT PRIVILEGES',
  'database-settings': 'DATABASE SETTINGS',
};

function label(object: DumpObject): string {
  const kind = object.relkind === 'f' ? 'FOREIGN TABLE' : LABEL[object.kind];
  return `-- ${kind ?? object.kind.replaceAll('-', ' ').toUpperCase()}: ${oneLine(object.name)}\n`;
}

/** The table an object belongs to (`schema.table`, unquoted), for the `-- nexus-object:` markers. */
export type TableOf = (object: DumpObject) => string | undefined;

/**
 * One machine-readable line before each object's label in pre-data and post-data: JSON keeps any name
 * on one line, so a restore that selects tables can tell which objects go with which table.
 */
function marker(object: DumpObject, tableOf: TableOf): string {
  const table = tableOf(object);
  const fields = { kind: object.kind, name: object.name, ...(table === undefined ? {} : { table }) };
  return `-- nexus-object: ${JSON.stringify(fields)}\n`;
}

function* schemaObjects(objects: DumpObject[], tableOf: TableOf, signal: AbortSignal): Generator<Buffer> {
  for (const object of objects) {
    signal.throwIfAborted();
    if (object.sql !== '') yield Buffer.from(`${marker(object, tableOf)}${label(object)}${object.sql}\n`);
  }
}

export interface PartOptions {
  snapshot: Snapshot;
  dataOnly: boolean;
  tableOf: TableOf;
  signal: AbortSignal;
}

/** `pre-data.sql`: the session header and every object that comes before the table data. */
export function* writePreData(objects: DumpObject[], options: PartOptions): Generator<Buffer> {
  yield Buffer.from(header(options.snapshot, options.dataOnly));
  yield* schemaObjects(objects, options.tableOf, options.signal);
}

/**
 * `post-data.sql`: the session header, sequence values and post-data objects in their order (with the
 * data of any table that had to wait for one of them, see parts.ts), then REFRESH for each populated
 * materialized view (of `all`, the whole dump), in creation order, so each refresh sees the ones it reads.
 */
export async function* writePostData(
  objects: DumpObject[],
  all: DumpObject[],
  options: PartOptions,
  callbacks: DataCallbacks,
): AsyncGenerator<Buffer> {
  yield Buffer.from(header(options.snapshot, options.dataOnly));
  for (const object of objects) {
    if (isDataObject(object)) yield* dataObject(object, options, callbacks);
    else yield* schemaObjects([object], options.tableOf, options.signal);
  }
  const refreshes = all.flatMap((object) => (object.refresh ? [object.refresh] : []));
  if (refreshes.length > 0) yield Buffer.from(`-- MATERIALIZED VIEW DATA\n${refreshes.join('')}\n`);
  yield Buffer.from('--\n-- end of dump\n--\n');
}

export interface DataCallbacks {
  /** Streams one table's COPY output; resolves when the table is done. */
  copyOut(object: DumpObject): AsyncIterable<Buffer>;
  /** Streams one large object's content as `lo_put` statements. */
  largeObjectOut(object: DumpObject): AsyncIterable<Buffer>;
}

/**
 * A data artifact: the session header (so it also runs alone, on a connection of its own), then table
 * data as `COPY ... FROM stdin;` blocks carrying the server's COPY text as raw bytes, ended by `\.`,
 * and large objects as `lo_create` and their content in `lo_put` chunks.
 */
export async function* writeData(
  objects: DumpObject[],
  options: PartOptions,
  callbacks: DataCallbacks,
): AsyncGenerator<Buffer> {
  yield Buffer.from(header(options.snapshot, options.dataOnly));
  for (const object of objects) yield* dataObject(object, options, callbacks);
}

/** Table data and large objects: what the dump reads from the server as it writes. */
export function isDataObject(object: DumpObject): boolean {
  return object.kind === 'table-data' || object.kind === 'large-object';
}

async function* dataObject(
  object: DumpObject,
  options: PartOptions,
  callbacks: DataCallbacks,
): AsyncGenerator<Buffer> {
  options.signal.throwIfAborted();
  if (object.kind === 'table-data' && object.copy) {
    const columns = object.copy.columns.length > 0 ? ` (${object.copy.columns.join(', ')})` : '';
    yield Buffer.from(`${label(object)}COPY ${object.copy.table}${columns} FROM stdin;\n`);
    yield* callbacks.copyOut(object);
    yield Buffer.from('\\.\n\n');
  } else if (object.kind === 'large-object') {
    yield Buffer.from(`${label(object)}${object.sql}`);
    yield* callbacks.largeObjectOut(object);
    yield Buffer.from('\n');
  }
}

/** The column list COPY ... TO uses, so the data lines up with the `COPY ... FROM stdin` header. */
export function copyOutStatement(object: DumpObject): string {
  if (!object.copy) throw new Error(`${object.name} has no data`);
  const columns = object.copy.columns.length > 0 ? ` (${object.copy.columns.join(', ')})` : '';
  if (object.copy.where) {
    const list = object.copy.columns.length > 0 ? object.copy.columns.join(', ') : '*';
    return `COPY (SELECT ${list} FROM ONLY ${object.copy.table} ${object.copy.where}) TO STDOUT`;
  }
  return `COPY ${object.copy.table}${columns} TO STDOUT`;
}
