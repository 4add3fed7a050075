import { type Logger, NexusError } from '@nexus-backup/core';
import type pg from 'pg';
import {
  type ForeignKey,
  findColumn,
  findUnit,
  type SelectionUnit,
  type SubsetCatalog,
  timeColumn,
  unitsNamed,
} from './catalog.js';
import type { RowSelection, Seed } from './selection.js';

/**
 * The selected rows of every unit, as keys in one temp table per unit on the snapshot connection.
 * Created while the transaction may still write (temp tables cannot be created in a read-only one);
 * filled after it is made read only, so a `--where` condition can never write to the database.
 */
export class SelectedKeys {
  private readonly tables = new Map<SelectionUnit, string>();

  constructor(private readonly catalog: SubsetCatalog) {}

  async create(client: pg.Client): Promise<void> {
    let index = 0;
    for (const unit of this.catalog.units) {
      const table = `pg_temp.nexus_subset_${++index}`;
      const keys = unit.identity.map((column, i) => `t.${column} AS k${i + 1}`).join(', ');
      await client.query(
        `CREATE TEMP TABLE nexus_subset_${index} ON COMMIT DROP AS SELECT ${keys}, 0 AS round FROM ${unit.scan} AS t WHERE false`,
      );
      await client.query(`CREATE UNIQUE INDEX ON ${table} (${this.keyColumns(unit)})`);
      this.tables.set(unit, table);
    }
  }

  table(unit: SelectionUnit): string {
    const table = this.tables.get(unit);
    if (!table) throw new Error(`no selection table for ${unit.qname}`);
    return table;
  }

  keyColumns(unit: SelectionUnit): string {
    return unit.identity.map((_, i) => `k${i + 1}`).join(', ');
  }

  /** `alias` row is selected (in `round` only, when given). */
  contains(unit: SelectionUnit, alias: string, round?: number): string {
    const identity = unit.identity.map((column) => `${alias}.${column}`).join(', ');
    const filter = round === undefined ? '' : ` WHERE round = ${round}`;
    return `(${identity}) IN (SELECT ${this.keyColumns(unit)} FROM ${this.table(unit)}${filter})`;
  }

  insertInto(unit: SelectionUnit, alias: string, round: number): string {
    const identity = unit.identity.map((column) => `${alias}.${column}`).join(', ');
    return `INSERT INTO ${this.table(unit)} (${this.keyColumns(unit)}, round) SELECT ${identity}, ${round}`;
  }

  async counts(client: pg.Client): Promise<Map<SelectionUnit, number>> {
    const counts = new Map<SelectionUnit, number>();
    for (const [unit, table] of this.tables) {
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      counts.set(unit, Number(rows[0]?.n ?? 0));
    }
    return counts;
  }
}

export interface ClosureOutcome {
  /** The start of the `--since` window as the snapshot computed it (ISO 8601). */
  cutoff?: string;
  rounds: number;
}

/**
 * Seeds the selection, then widens it to a fixed point, one round at a time, each rule reading only the
 * rows the previous round added:
 * - every row a selected row references through a foreign key (so the result restores with its keys);
 * - every row that references a selected row through an ON DELETE CASCADE key (a request's chunks);
 * - every row that references a selected row of a table in `childrenOf` (a profile's chunks);
 * - with `--group T.C`, every row of T sharing C with a selected row (a whole conversation);
 * - a profile's links: every row of `from` sharing its column with a selected `to` row (an analysis of a conversation).
 */
export async function computeClosure(
  client: pg.Client,
  catalog: SubsetCatalog,
  keys: SelectedKeys,
  selection: RowSelection,
  log: Logger,
): Promise<ClosureOutcome> {
  const cutoff = await cutoffOf(client, selection);
  const added = new Map<SelectionUnit, number>();
  const note = (unit: SelectionUnit, rows: number | null) =>
    added.set(unit, (added.get(unit) ?? 0) + (rows ?? 0));
  const query = (text: string, values: unknown[] = []) =>
    // Extended protocol even without values: one statement only, so a condition cannot smuggle in another.
    client.query({ text, values, queryMode: 'extended' } as pg.QueryConfig);

  const insertSeed = async (seed: Seed): Promise<[SelectionUnit, number | null]> => {
    const unit = findUnit(catalog, seed.table, seed.origin);
    // Bound up to the highest $n the condition names: the server refuses parameters a statement does not use.
    const used = Math.max(0, ...[...(seed.condition ?? '').matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
    const values: unknown[] = selection.params.slice(0, used);
    const conditions = seed.condition === undefined ? [] : [`(${seed.condition})`];
    if (cutoff !== undefined) {
      const column = timeColumn(unit, selection, catalog);
      if (column === undefined) {
        throw new NexusError('USAGE', `--since: ${unit.schema}.${unit.name} has no time column`, {
          provider: 'postgres',
          hint: `name one with --since-column ${unit.name}=COLUMN`,
        });
      }
      values.push(cutoff);
      conditions.push(inWindow(unit, column, values.length));
    }
    const identity = unit.identity.join(', ');
    try {
      const result = await query(
        `INSERT INTO ${keys.table(unit)} (${keys.keyColumns(unit)}, round) SELECT ${identity}, 0 FROM ${unit.scan} WHERE ${conditions.join(' AND ') || 'true'} ON CONFLICT DO NOTHING`,
        values,
      );
      return [unit, result.rowCount];
    } catch (error) {
      const text = seed.condition === undefined ? seed.table.text : `"${seed.table.text}: ${seed.condition}"`;
      throw new NexusError('USAGE', `${seed.origin} ${text} failed: ${(error as Error).message}`, {
        provider: 'postgres',
        cause: error,
        hint: 'the condition is SQL on that table; pass values with --param and refer to them as $1, $2, ...',
      });
    }
  };

  if (selection.seeds.length > 0) {
    // The seeds are written as a user writes SQL, not for the dump's empty search_path.
    await client.query(`SELECT pg_catalog.set_config('search_path', '"$user", public', true)`);
    try {
      for (const seed of selection.seeds) note(...(await insertSeed(seed)));
    } finally {
      // After a failed condition the transaction is aborted and the dump ends anyway.
      await client.query(`SELECT pg_catalog.set_config('search_path', '', true)`).catch(() => undefined);
    }
  } else if (cutoff !== undefined) {
    for (const unit of catalog.units) {
      const column = timeColumn(unit, selection, catalog);
      if (column === undefined && selection.untimedTables === 'referenced') continue;
      const window = column === undefined ? '' : ` WHERE ${inWindow(unit, column, 1)}`;
      const result = await query(
        `${keys.insertInto(unit, 't', 0)} FROM ${unit.scan} AS t${window}`,
        column === undefined ? [] : [cutoff],
      );
      note(unit, result.rowCount);
      log.debug(
        `selection: ${unit.schema}.${unit.name} ${column === undefined ? 'has no time column: every row' : `by ${column}`}`,
      );
    }
  }
  for (const entry of selection.sinceColumns) findUnit(catalog, entry.table, '--since-column');
  const groups = selection.groups.map((group) => {
    const unit = findUnit(catalog, group.table, '--group');
    findColumn(unit, group.column, '--group');
    return { unit, column: quote(group.column) };
  });
  // A profile's links, children and chunks name tables a dump may leave out (--exclude-tables): then they do not apply.
  const links = selection.links.flatMap((link) => {
    const [from] = unitsNamed(catalog, link.from.table);
    const [to] = unitsNamed(catalog, link.to.table);
    if (!from || !to) return [];
    findColumn(from, link.from.column, 'profile link');
    findColumn(to, link.to.column, 'profile link');
    return [{ from, to, fromColumn: quote(link.from.column), toColumn: quote(link.to.column) }];
  });
  const childrenOf = new Set(selection.childrenOf.flatMap((table) => unitsNamed(catalog, table)));
  const noChildrenOf = new Set(selection.noChildrenOf.flatMap((table) => unitsNamed(catalog, table)));
  // A table's reference to itself (a request's parent) is a parent link, not a chunk.
  const followChild = (key: ForeignKey) =>
    key.child === key.parent
      ? key.cascade
      : !noChildrenOf.has(key.parent) && (key.cascade || childrenOf.has(key.parent));

  let rounds = 0;
  let previous = new Map(added);
  while ([...previous.values()].some((rows) => rows > 0)) {
    rounds++;
    const current = new Map<SelectionUnit, number>();
    const run = async (unit: SelectionUnit, sql: string) => {
      const result = await query(`${sql} ON CONFLICT DO NOTHING`);
      current.set(unit, (current.get(unit) ?? 0) + (result.rowCount ?? 0));
    };
    const fresh = (unit: SelectionUnit) => (previous.get(unit) ?? 0) > 0;
    for (const key of catalog.foreignKeys) {
      if (fresh(key.child)) {
        await run(
          key.parent,
          `${keys.insertInto(key.parent, 'p', rounds)} FROM ${key.parentScan} AS p WHERE (${cols('p', key.parentColumns)}) IN (SELECT ${cols('c', key.childColumns)} FROM ${key.childScan} AS c WHERE ${keys.contains(key.child, 'c', rounds - 1)})`,
        );
      }
      if (followChild(key) && fresh(key.parent)) {
        await run(
          key.child,
          `${keys.insertInto(key.child, 'c', rounds)} FROM ${key.childScan} AS c WHERE (${cols('c', key.childColumns)}) IN (SELECT ${cols('p', key.parentColumns)} FROM ${key.parentScan} AS p WHERE ${keys.contains(key.parent, 'p', rounds - 1)})`,
        );
      }
    }
    for (const link of links) {
      if (!fresh(link.to)) continue;
      await run(
        link.from,
        `${keys.insertInto(link.from, 'f', rounds)} FROM ${link.from.scan} AS f WHERE f.${link.fromColumn} IN (SELECT t.${link.toColumn} FROM ${link.to.scan} AS t WHERE ${keys.contains(link.to, 't', rounds - 1)})`,
      );
    }
    for (const group of groups) {
      if (!fresh(group.unit)) continue;
      await run(
        group.unit,
        `${keys.insertInto(group.unit, 't', rounds)} FROM ${group.unit.scan} AS t WHERE t.${group.column} IN (SELECT g.${group.column} FROM ${group.unit.scan} AS g WHERE ${keys.contains(group.unit, 'g', rounds - 1)})`,
      );
    }
    const grown = [...current.values()].reduce((sum, rows) => sum + rows, 0);
    log.debug(`selection: round ${rounds} added ${grown} rows`);
    previous = current;
  }
  return { ...(cutoff !== undefined ? { cutoff } : {}), rounds };
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

function cols(alias: string, columns: string[]): string {
  return columns.map((column) => `${alias}.${column}`).join(', ');
}

/** `column >= cutoff`; a time without zone is read as UTC, like every time the tool prints. */
function inWindow(unit: SelectionUnit, column: string, parameter: number): string {
  const kind = unit.columns.get(column)?.timeKind;
  const quoted = `"${column.replaceAll('"', '""')}"`;
  return kind === 'timestamptz'
    ? `${quoted} >= $${parameter}::timestamptz`
    : `${quoted} >= ($${parameter}::timestamptz AT TIME ZONE 'UTC')`;
}

async function cutoffOf(client: pg.Client, selection: RowSelection): Promise<string | undefined> {
  const since = selection.since;
  if (since === undefined) return undefined;
  if (since.kind === 'instant') return since.at;
  // now() is the snapshot's start, so the window and the data are of the same instant.
  const { rows } = await client.query<{ cutoff: Date }>('SELECT pg_catalog.now() - $1::interval AS cutoff', [
    since.interval,
  ]);
  const cutoff = rows[0]?.cutoff;
  if (!(cutoff instanceof Date)) throw new Error('the server returned no cutoff');
  return cutoff.toISOString();
}
