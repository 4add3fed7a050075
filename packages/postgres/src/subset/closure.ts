import { type Logger, NexusError } from '@nexus-backup/core';
import type pg from 'pg';
import { findColumn, findUnit, type SelectionUnit, type SubsetCatalog, timeColumn } from './catalog.js';
import type { RowSelection } from './selection.js';

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
 * - with `--group T.C`, every row of T sharing C with a selected row (a whole conversation).
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

  if (selection.where) {
    const unit = findUnit(catalog, selection.where.table, '--where');
    const values: unknown[] = [...selection.params];
    let window = '';
    if (cutoff !== undefined) {
      const column = timeColumn(unit, selection.sinceColumns, catalog);
      if (column === undefined) {
        throw new NexusError('USAGE', `--since: ${unit.schema}.${unit.name} has no time column`, {
          provider: 'postgres',
          hint: `name one with --since-column ${unit.name}=COLUMN`,
        });
      }
      values.push(cutoff);
      window = ` AND ${inWindow(unit, column, values.length)}`;
    }
    const identity = unit.identity.join(', ');
    // The dump runs with an empty search_path; the condition is written as a user writes SQL.
    await client.query(`SELECT pg_catalog.set_config('search_path', '"$user", public', true)`);
    try {
      const result = await query(
        `INSERT INTO ${keys.table(unit)} (${keys.keyColumns(unit)}, round) SELECT ${identity}, 0 FROM ${unit.scan} WHERE (${selection.where.condition})${window} ON CONFLICT DO NOTHING`,
        values,
      );
      note(unit, result.rowCount);
    } catch (error) {
      throw new NexusError(
        'USAGE',
        `--where "${selection.where.table.text}: ${selection.where.condition}" failed: ${(error as Error).message}`,
        {
          provider: 'postgres',
          cause: error,
          hint: 'the condition is SQL on that table; pass values with --param and refer to them as $1, $2, ...',
        },
      );
    } finally {
      // After a failed condition the transaction is aborted and the dump ends anyway.
      await client.query(`SELECT pg_catalog.set_config('search_path', '', true)`).catch(() => undefined);
    }
  } else if (cutoff !== undefined) {
    for (const unit of catalog.units) {
      const column = timeColumn(unit, selection.sinceColumns, catalog);
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
    return { unit, column: `"${group.column.replaceAll('"', '""')}"` };
  });
  const noCascade = new Set(
    selection.noCascadeInto.flatMap((table) =>
      catalog.units.filter(
        (unit) => unit.name === table.name && (table.schema === undefined || unit.schema === table.schema),
      ),
    ),
  );

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
      if (key.cascade && !noCascade.has(key.child) && fresh(key.parent)) {
        await run(
          key.child,
          `${keys.insertInto(key.child, 'c', rounds)} FROM ${key.childScan} AS c WHERE (${cols('c', key.childColumns)}) IN (SELECT ${cols('p', key.parentColumns)} FROM ${key.parentScan} AS p WHERE ${keys.contains(key.parent, 'p', rounds - 1)})`,
        );
      }
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
