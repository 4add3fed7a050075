import type { Json, RunContext } from '@nexus-backup/core';
import type pg from 'pg';
import type { RowFilter } from '../dump/dump.js';
import type { DumpObject } from '../dump/model.js';
import { readSubsetCatalog, type SubsetCatalog, unitsNamed } from './catalog.js';
import { computeClosure, SelectedKeys } from './closure.js';
import type { SelectionPlan } from './plan.js';
import type { Profile } from './profile.js';
import { type RowSelection, usage } from './selection.js';

/**
 * The dump's row filter for a selection: the dump stays one plain-SQL artifact (schema and every
 * table), only each table's COPY reads the selected rows. Sequence values stay the source's, which
 * are past every row, so new rows in a restored copy do not collide.
 */
export function selectionRowFilter(plan: SelectionPlan): RowFilter {
  let catalog: SubsetCatalog | undefined;
  let keys: SelectedKeys | undefined;
  let selection: RowSelection | undefined;
  return {
    async prepare(client: pg.Client, tables: DumpObject[]) {
      const relations = tables.flatMap((object) => (object.relation === undefined ? [] : [object.relation]));
      catalog = await readSubsetCatalog(client, relations);
      selection = plan.build(plan.explicit ? plan.profiles[0] : recognise(plan.profiles, catalog));
      keys = new SelectedKeys(catalog);
      await keys.create(client);
    },
    async select(client: pg.Client, ctx: RunContext) {
      if (!catalog || !keys || !selection) throw new Error('the row filter was not prepared');
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
      const selected = selection;
      return {
        copyStatement(object: DumpObject): string {
          const unit = object.relation === undefined ? undefined : unitOf.get(object.relation);
          if (!unit || !object.copy) throw new Error(`${object.name} is not a selected table`);
          const columns = object.copy.columns.map((column) => `t.${column}`).join(', ');
          return `COPY (SELECT ${columns} FROM ONLY ${object.copy.table} AS t WHERE ${selectedKeys.contains(unit, 't')}) TO STDOUT`;
        },
        meta: {
          summary: selected.summary,
          ...(outcome.cutoff !== undefined ? { since: outcome.cutoff } : {}),
          rounds: outcome.rounds,
          tables,
        },
      };
    },
  };
}

/** The built-in profile whose tables this database has; none (no named selection) without profiles. */
function recognise(profiles: Profile[], catalog: SubsetCatalog): Profile | undefined {
  if (profiles.length === 0) return undefined;
  const found = profiles.find(
    (profile) =>
      profile.recognise.length > 0 &&
      profile.recognise.every((table) => unitsNamed(catalog, table).length > 0),
  );
  if (found) return found;
  throw usage(
    `the database is not one a built-in profile knows: ${profiles
      .map((profile) => `${profile.name} needs tables ${profile.recognise.map((t) => t.text).join(', ')}`)
      .join('; ')}`,
    'pass --profile FILE with a profile for your schema, or select rows with --where',
  );
}
