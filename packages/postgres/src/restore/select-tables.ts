import { Readable } from 'node:stream';
import { NexusError, type RestoreArtifact } from '@nexus-backup/core';
import { nextDatabaseArtifact } from './concatenated-artifacts.js';
import { type MarkedEvent, type ObjectMarker, readMarkedScript } from './object-markers.js';
import { displayName, qualifiedNamesIn } from './relation-names.js';
import { readSqlScript } from './sql-script-reader.js';

export interface TableSelectionOptions {
  /** The tables as the user named them: `table` (unique in the backup) or `schema.table`. */
  tables: readonly string[];
  /** Only the tables' rows and their owned sequences' values, for a database that has the schema. */
  dataOnly: boolean;
}

export interface SelectedScript {
  /** One plain SQL script: what of the backup the selected tables need, in manifest order. */
  script: Readable;
  /** The tables restored, as `schema.table`; final once the script was read to its end. */
  tables: string[];
  /** What the tables needed but could not have (filled while the script is read). */
  warnings: string[];
  /** The backup holds rows only (made with --data-only): it restores into a database that has the schema. */
  dataOnlyBackup: boolean;
  /** The first database artifact's meta (the source database's locale, for a new database). */
  firstMeta: RestoreArtifact['meta'];
}

/** Routines: objects name them without their arguments (`EXECUTE FUNCTION public.touch()`). */
const ROUTINES = new Set(['function', 'aggregate', 'procedure']);
/** Kinds whose name other objects use as a relation (and so may need it). */
const RELATIONS = new Set(['table', 'view', 'matview', 'sequence']);
const REFRESH = /^REFRESH\s+MATERIALIZED\s+VIEW\b/i;
const ATTACH_PARTITION = /^ALTER\s+TABLE\s+ONLY\s+(.+?)\s+ATTACH\s+PARTITION\s/is;
const INHERITS = /\nINHERITS \(([^\n]*)\)/;

/**
 * A restore of some tables from a per-table backup (`restore --table`): reads the pre-data artifact,
 * resolves the names (a usage error before anything is restored when one matches no table or several),
 * and returns one script holding the objects that belong to no table, the selected tables and what
 * belongs to them, and the data of those tables only. Data artifacts holding none of the tables are
 * destroyed unread, so they are never downloaded or decoded; grouped ones are read and the COPY blocks
 * of other tables skipped. An object that needs a relation that is not restored (a foreign key to
 * another table, a view over one) is left out with a warning naming both.
 */
export async function selectTables(
  iterator: AsyncIterator<RestoreArtifact>,
  options: TableSelectionOptions,
): Promise<SelectedScript> {
  const first = await nextDatabaseArtifact(iterator);
  if (first === undefined) {
    throw new NexusError('NOT_FOUND', 'the backup has no database artifacts', {
      provider: 'postgres',
      hint: 'restore a backup made by the postgres source',
    });
  }
  if (first.meta.layout !== 'per-table') {
    first.stream.destroy();
    throw new NexusError(
      'USAGE',
      `--table needs a backup with per-table artifacts; this one is a single ${first.name}, made before them`,
      {
        provider: 'postgres',
        hint: 'restore it whole (--create-db) and copy the tables from there, or take a new backup to restore tables from',
      },
    );
  }
  const selection = new TableSelection(options);
  // A data-only backup has no schema objects (its pre-data is the session header, if it is there at
  // all): the names are matched against the tables its data artifacts hold.
  const dataOnlyBackup = first.meta.dataOnly === true || first.meta.part !== 'pre-data';
  let preData: MarkedEvent[] | undefined;
  let firstData: RestoreArtifact | undefined;
  if (first.meta.part === 'pre-data') {
    // Held whole to resolve the names before anything is restored: schema text only, no table data.
    preData = [];
    for await (const event of readMarkedScript(first.stream, first.name)) {
      if (event.kind === 'copy') throw dataInPreData(first.name, event.line);
      preData.push(event);
    }
    if (!dataOnlyBackup) selection.resolveFrom(preData);
  } else {
    firstData = first;
  }

  async function* script(): AsyncGenerator<Buffer> {
    if (preData !== undefined) {
      yield* selection.filterSchema(fromArray(preData));
      if (options.dataOnly) yield Buffer.from('SET CONSTRAINTS ALL DEFERRED;\n\n');
    }
    let artifact = firstData;
    for (;;) {
      if (artifact === undefined) {
        artifact = await nextDatabaseArtifact(iterator);
        if (artifact === undefined) break;
      }
      const current = artifact;
      artifact = undefined;
      if (current.meta.part === 'post-data') {
        yield* selection.filterSchema(readMarkedScript(current.stream, current.name));
      } else if (current.meta.part === 'data' && selection.needsData(current.meta)) {
        yield* selection.filterData(current);
      } else {
        current.stream.destroy();
      }
    }
    selection.finish();
  }

  return {
    script: Readable.from(script()),
    tables: selection.tables,
    warnings: selection.warnings,
    dataOnlyBackup,
    firstMeta: first.meta,
  };
}

/** The tables chosen and what is known of the backup's relations, as the artifacts go by. */
class TableSelection {
  readonly tables: string[] = [];
  readonly warnings: string[] = [];
  private selected: Set<string> | undefined;
  /** Relations of the backup that the restore does not create: other tables, views left out. */
  private readonly notRestored = new Set<string>();
  /** Relations besides the tables that are restored (views, sequences): their own objects come too. */
  private readonly keptRelations = new Set<string>();
  /** Views, routines and other objects of no table that were left out with a warning. */
  private readonly leftOut = new Set<string>();
  /** The tables of the backup that are not restored, for the hint of a warning. */
  private readonly otherTables = new Set<string>();
  /** Data-only backups: tables seen in the data artifacts' metadata, to resolve the names at the end. */
  private readonly seenTables = new Set<string>();

  constructor(private readonly options: TableSelectionOptions) {}

  /**
   * Resolves the names against the tables of the pre-data artifact. Partitions and inheritance
   * children come with their table; one selected without its parent is refused, naming the parent.
   */
  resolveFrom(events: readonly MarkedEvent[]): void {
    const tables: { name: string; parents: string[] }[] = [];
    for (const [index, event] of events.entries()) {
      if (!event.first || event.marker?.kind !== 'table') continue;
      const statements = [event.sql];
      for (let next = index + 1; next < events.length && !(events[next] as MarkedEvent).first; next++)
        statements.push((events[next] as MarkedEvent).sql);
      tables.push({ name: event.marker.name, parents: parentsOf(statements) });
    }
    const names = tables.map((table) => table.name);
    const selected = resolveNames(this.options.tables, names);
    // Pre-data creates a parent before its children, so one pass also brings partitions of partitions.
    for (const { name, parents } of tables) {
      if (parents.some((parent) => selected.has(parent))) selected.add(name);
      else if (selected.has(name) && parents.length > 0) {
        throw new NexusError(
          'USAGE',
          `table ${name} is a partition or child of ${parents.join(', ')}, which is not selected`,
          {
            provider: 'postgres',
            hint: `add --table ${parents[0]} (its partitions and children come with it)`,
          },
        );
      }
    }
    this.select(selected, names);
  }

  private select(selected: Set<string>, all: Iterable<string>): void {
    this.selected = selected;
    this.tables.splice(0, this.tables.length, ...[...selected].sort());
    for (const table of all) {
      if (selected.has(table)) continue;
      this.notRestored.add(table);
      this.otherTables.add(table);
    }
  }

  /** Whether a data artifact holds rows of a selected table (an artifact without a table list is read). */
  needsData(meta: RestoreArtifact['meta']): boolean {
    if (meta.largeObjects === true) return false;
    const tables = meta.tables;
    if (!Array.isArray(tables)) return true;
    for (const table of tables) if (typeof table === 'string') this.seenTables.add(table);
    return tables.some((table) => typeof table === 'string' && this.wants(table));
  }

  private wants(table: string): boolean {
    if (this.selected !== undefined) return this.selected.has(table);
    return this.options.tables.some((name) => table === name || table.endsWith(`.${name}`));
  }

  /** A data artifact's header statements and the COPY blocks of the selected tables. */
  async *filterData(artifact: RestoreArtifact): AsyncGenerator<Buffer> {
    for await (const event of readSqlScript(artifact.stream)) {
      if (event.kind === 'meta') {
        throw new NexusError(
          'INTEGRITY',
          `${artifact.name} line ${event.line}: a psql command (\\${event.name}) in a data artifact`,
          { provider: 'postgres' },
        );
      }
      if (event.kind === 'statement') {
        yield Buffer.from(`${event.sql}\n`);
        continue;
      }
      const table = displayName(event.table) ?? event.table;
      this.seenTables.add(table);
      if (!this.wants(table)) continue; // the reader skips the data nobody reads
      yield Buffer.from(`${event.sql}\n`);
      yield* event.data;
      yield Buffer.from('\\.\n\n');
    }
  }

  /**
   * The statements of a pre-data or post-data artifact that the selected tables keep. An object's
   * statements are held until the next object starts (they decide together); COPY blocks (a table's
   * data that had to wait for a post-data object) stream through when their table is selected.
   */
  async *filterSchema(events: AsyncIterable<MarkedEvent>): AsyncGenerator<Buffer> {
    let pending: { marker: ObjectMarker; statements: string[] } | undefined;
    let keepCurrent = false;
    const decide = (): Buffer | undefined => {
      if (pending === undefined) return undefined;
      const { marker, statements } = pending;
      pending = undefined;
      keepCurrent = this.keeps(marker, statements.join('\n'));
      if (!keepCurrent) return undefined;
      return Buffer.from(`-- nexus-object: ${JSON.stringify(marker)}\n${statements.join('\n')}\n\n`);
    };
    for await (const event of events) {
      if (event.kind === 'copy') {
        const decided = decide();
        if (decided) yield decided;
        const table = displayName(event.table) ?? event.table;
        if (!this.wants(table)) continue; // the reader skips the data nobody reads
        yield Buffer.from(`${event.sql}\n`);
        yield* event.data;
        yield Buffer.from('\\.\n\n');
        continue;
      }
      if (event.marker === undefined) {
        yield Buffer.from(`${event.sql}\n`); // the session header
      } else if (REFRESH.test(event.sql)) {
        // Materialized view refreshes come after the last object, without a marker of their own.
        const decided = decide();
        if (decided) yield decided;
        if (!this.options.dataOnly && !this.needsMissing(event.sql)) yield Buffer.from(`${event.sql}\n`);
      } else if (event.first) {
        const decided = decide();
        if (decided) yield decided;
        pending = { marker: event.marker, statements: [event.sql] };
      } else if (pending !== undefined) {
        pending.statements.push(event.sql);
      } else if (keepCurrent) {
        yield Buffer.from(`${event.sql}\n`);
      }
    }
    const decided = decide();
    if (decided) yield decided;
  }

  /** Decides one object of a schema artifact; records the relations it makes or leaves out. */
  private keeps(marker: ObjectMarker, sql: string): boolean {
    if (this.options.dataOnly) {
      // Only the sequence values of the tables' own sequences; the schema is there already.
      return marker.kind === 'sequence-set' && marker.table !== undefined && this.wants(marker.table);
    }
    const relation = RELATIONS.has(marker.kind);
    if (marker.table !== undefined && !this.wants(marker.table) && !this.keptRelations.has(marker.table)) {
      if (relation) this.notRestored.add(marker.name);
      return false;
    }
    if (marker.kind === 'table') return true;
    // A routine's body is a string, unseen here and unchecked by the server; its argument and result
    // types (a table's row type) and an SQL-standard body (BEGIN ATOMIC) are seen and checked.
    const missing = this.missingIn(sql, marker.table);
    if (missing.length === 0) {
      if (relation) this.keptRelations.add(marker.name);
      return true;
    }
    const named = ROUTINES.has(marker.kind) ? marker.name.replace(/\(.*$/s, '') : marker.name;
    if (relation || ROUTINES.has(marker.kind)) this.notRestored.add(named);
    // An index or comment of a view left out goes with it: the view's warning said why.
    if (marker.table === undefined && missing.every((name) => this.leftOut.has(name))) return false;
    if (marker.table === undefined) this.leftOut.add(named);
    const tables = missing.filter((name) => this.otherTables.has(name));
    const hint =
      tables.length > 0 ? ` (add ${tables.map((name) => `--table ${name}`).join(' ')} to keep it)` : '';
    this.warnings.push(
      `left out ${describeKind(marker.kind)} ${marker.name}: it needs ${missing.join(', ')}, which ${missing.length > 1 ? 'are' : 'is'} not restored${hint}`,
    );
    return false;
  }

  private needsMissing(sql: string): boolean {
    return this.missingIn(sql, undefined).length > 0;
  }

  private missingIn(sql: string, own: string | undefined): string[] {
    return [...qualifiedNamesIn(sql)].filter((name) => name !== own && this.notRestored.has(name)).sort();
  }

  /** A data-only backup resolves the names against every table its data artifacts held. */
  finish(): void {
    if (this.selected !== undefined) return;
    const selected = resolveNames(this.options.tables, [...this.seenTables]);
    this.select(selected, this.seenTables);
  }
}

/** `--table` names to tables of the backup: exact `schema.table`, or a table name unique across schemas. */
export function resolveNames(requested: readonly string[], tables: readonly string[]): Set<string> {
  const selected = new Set<string>();
  for (const name of requested) {
    const exact = tables.filter((table) => table === name);
    const candidates = exact.length > 0 ? exact : tables.filter((table) => table.endsWith(`.${name}`));
    if (candidates.length === 1) {
      selected.add(candidates[0] as string);
      continue;
    }
    if (candidates.length > 1) {
      throw new NexusError(
        'USAGE',
        `--table ${name} matches ${candidates.length} tables: ${[...candidates].sort().join(', ')}`,
        { provider: 'postgres', hint: 'name one as schema.table' },
      );
    }
    const listed = [...tables].sort();
    const shown = listed.length > 40 ? `${listed.slice(0, 40).join(', ')}, ...` : listed.join(', ');
    throw new NexusError(
      'USAGE',
      `--table ${name}: the backup has no such table; its tables are: ${shown || '(none)'}`,
      { provider: 'postgres', hint: 'name a table of the backup, as table or schema.table' },
    );
  }
  return selected;
}

async function* fromArray<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

function dataInPreData(artifact: string, line: number): NexusError {
  return new NexusError('INTEGRITY', `${artifact} line ${line}: table data in a pre-data artifact`, {
    provider: 'postgres',
    hint: 'restore the backup whole; it was not written by this version of the postgres source',
  });
}

/** The tables a table's statements make it a partition of (ATTACH PARTITION) or inherit from (INHERITS). */
function parentsOf(statements: readonly string[]): string[] {
  const parents = new Set<string>();
  for (const sql of statements) {
    const attach = ATTACH_PARTITION.exec(sql)?.[1];
    const parent = attach === undefined ? undefined : displayName(attach);
    if (parent !== undefined) parents.add(parent);
  }
  const inherits = INHERITS.exec(statements[0] ?? '')?.[1];
  if (inherits !== undefined) for (const name of qualifiedNamesIn(inherits)) parents.add(name);
  return [...parents];
}

function describeKind(kind: string): string {
  if (kind === 'matview') return 'materialized view';
  return kind.replaceAll('-', ' ');
}
