import type { Json, RunContext } from '@nexus-backup/core';
import type pg from 'pg';
import type { RowFilter } from '../dump/dump.js';
import type { DumpObject } from '../dump/model.js';
import { readSubsetCatalog, type SubsetCatalog } from './catalog.js';
import { computeClosure, SelectedKeys } from './closure.js';
import type { RowSelection } from './selection.js';

/**
 * The dump's row filter for a selection: the dump stays one plain-SQL artifact (schema and every
 * table), only each table's COPY reads the selected rows. Sequence values stay the source's, which
 * are past every row, so new rows in a restored copy do not collide.
 */
export function selectionRowFilter(selection: RowSelection): RowFilter {
  let catalog: SubsetCatalog | undefined;
  let keys: SelectedKeys | undefined;
  return {
    async prepare(client: pg.Client, tables: DumpObject[]) {
      const relations = tables.flatMap((object) => (object.relation === undefined ? [] : [object.relation]));
      catalog = await readSubsetCatalog(client, relations);
      keys = new SelectedKeys(catalog);
      await keys.create(client);
    },
    async select(client: pg.Client, ctx: RunContext) {
      if (!catalog || !keys) throw new Error('the row filter was not prepared');
      const outcome = await computeClosure(client, catalog, keys, selection, ctx.log);
      const counts = await keys.counts(client);
      const tables: { [table: string]: Json } = {};
      let total = 0;
      for (const [unit, rows] of counts) {
        tables[`${unit.schema}.${unit.name}`] = rows;
        total += rows;
      }
      ctx.log.info(
        `selection (${selection.summary}): ${total} rows in ${[...counts.values()].filter((n) => n > 0).length} tables, closed under foreign keys in ${outcome.rounds} rounds`,
      );
      const { unitOf } = catalog;
      const selectedKeys = keys;
      return {
        copyStatement(object: DumpObject): string {
          const unit = object.relation === undefined ? undefined : unitOf.get(object.relation);
          if (!unit || !object.copy) throw new Error(`${object.name} is not a selected table`);
          const columns = object.copy.columns.map((column) => `t.${column}`).join(', ');
          return `COPY (SELECT ${columns} FROM ONLY ${object.copy.table} AS t WHERE ${selectedKeys.contains(unit, 't')}) TO STDOUT`;
        },
        meta: {
          summary: selection.summary,
          ...(outcome.cutoff !== undefined ? { since: outcome.cutoff } : {}),
          rounds: outcome.rounds,
          tables,
        },
      };
    },
  };
}
