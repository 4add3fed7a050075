import { NexusError, type RestoreArtifact } from '@nexus-backup/core';
import type { Client } from 'pg';
import { type MarkedEvent, readMarkedScript } from './object-markers.js';
import { type PostDataWork, postDataWork } from './post-data-statement.js';
import { splitKeepsResult, splitKeyBuild } from './split-key-build.js';
import type { SqlStatementEvent } from './sql-script-reader.js';
import { settingChangedBy } from './statement-text.js';

/** A post-data statement that may run as soon as the rows of its tables are in. */
export interface EarlyStatement {
  event: SqlStatementEvent;
  work: PostDataWork;
  /** The tables whose data it waits for (`schema.table`, as the markers and data artifacts name them). */
  tables: string[];
  /** A foreign key also waits for every early build on its two tables (the referenced key among them). */
  foreignKey: boolean;
  /** Runs only once this one is done: a key's attach waits for the build of its index. */
  after?: EarlyStatement;
}

export interface PostDataPlan {
  /** Index and key builds, and foreign keys, that run while data still loads. */
  early: EarlyStatement[];
  /** Everything else, in the script's order, after all data and all early statements. */
  rest: MarkedEvent[];
  /** The script's session settings before its first object, for the connections of the early statements. */
  setup: string[];
}

/**
 * Reads a per-table backup's `post-data.sql` whole (schema text only, no table data: bounded by the
 * schema's size) and verified: its stream errs at its end on a hash mismatch, so nothing of it runs
 * before that. `planPostData` then splits it for a restore that builds a table's indexes as soon as
 * its rows are in.
 */
export async function readPostData(artifact: RestoreArtifact): Promise<MarkedEvent[]> {
  const events: MarkedEvent[] = [];
  for await (const event of readMarkedScript(artifact.stream, artifact.name)) {
    if (event.kind === 'copy') {
      throw new NexusError(
        'INTEGRITY',
        `${artifact.name} line ${event.line}: table data in a post-data artifact whose metadata lists none`,
        {
          provider: 'postgres',
          hint: 'restore with --single-transaction, which reads the artifacts as one script',
        },
      );
    }
    events.push(event);
  }
  return events;
}

/**
 * Which statements run early: a build (CREATE INDEX, a primary key, unique or exclusion constraint) or
 * foreign key of one object whose marker names its table. Left in script order after all data: all
 * else (sequence values, triggers, policies, attaches, grants, refreshes), anything after a session
 * setting that follows the first object, and whatever touches a partitioned table, a partition or an
 * inheritance parent or child (their keys are attached across tables). A foreign key runs early only
 * when no build on its tables was left for later. A plain primary key or unique constraint runs as
 * its index build and then its attach (split-key-build.ts), so it builds beside the table's other
 * indexes; a primary key only where `notNull` (the restored tables' NOT NULL columns) has its columns.
 */
export function planPostData(
  events: MarkedEvent[],
  inheritance: ReadonlySet<string>,
  notNull: ReadonlyMap<string, ReadonlySet<string>>,
): PostDataPlan {
  const setup: string[] = [];
  const early = new Map<MarkedEvent, EarlyStatement[]>();
  const lateTables = new Set<string>();
  const foreignKeys: { event: MarkedEvent & SqlStatementEvent; work: PostDataWork }[] = [];
  let settled = false;
  let blocked = false;
  for (const marked of events) {
    if (marked.kind !== 'statement') continue;
    const event = marked as MarkedEvent & SqlStatementEvent;
    const setting = settingChangedBy(event.sql) !== undefined;
    if (event.marker === undefined && !settled) {
      if (setting) setup.push(event.sql);
      continue;
    }
    settled = true;
    // A setting after the first object (none is written today) may change what follows: keep it all in order.
    if (setting) blocked = true;
    const work = postDataWork(event.sql);
    if (work === undefined) continue;
    const tables = [...new Set([...work.exclusive, ...work.shared])];
    const own = event.marker?.table;
    const eligible =
      !blocked && own !== undefined && tables.includes(own) && !tables.some((t) => inheritance.has(t));
    if (work.group === 'foreign-key') {
      if (eligible) foreignKeys.push({ event, work });
      else for (const table of tables) lateTables.add(table);
      continue;
    }
    if (eligible && tables.length === 1) early.set(event, buildStatements(event, work, tables, notNull));
    else for (const table of tables) lateTables.add(table);
  }
  for (const { event, work } of foreignKeys) {
    const tables = [...new Set(work.exclusive)];
    if (tables.some((table) => lateTables.has(table))) continue;
    early.set(event, [{ event, work, tables, foreignKey: true }]);
  }
  return {
    early: events.flatMap((event) => early.get(event) ?? []),
    rest: events.filter((event) => !early.has(event)),
    setup,
  };
}

/** One early build, or a plain key's index build and attach when that makes the same constraint. */
function buildStatements(
  event: MarkedEvent & SqlStatementEvent,
  work: PostDataWork,
  tables: string[],
  notNull: ReadonlyMap<string, ReadonlySet<string>>,
): EarlyStatement[] {
  const split = splitKeyBuild(event.sql);
  if (split === undefined || !splitKeepsResult(split, notNull)) {
    return [{ event, work, tables, foreignKey: false }];
  }
  const step = (sql: string): EarlyStatement => {
    const stepWork = postDataWork(sql) as PostDataWork;
    return { event: { ...event, sql }, work: stepWork, tables, foreignKey: false };
  };
  const index = step(split.createIndex);
  return [index, { ...step(split.attach), after: index }];
}

/** Partitioned tables, partitions, inheritance parents and children (`schema.table`), as pre-data made them. */
export async function inheritanceTables(client: Client): Promise<Set<string>> {
  const { rows } = await client.query<{ name: string }>(`
    SELECT n.nspname || '.' || c.relname AS name
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'p' OR c.relispartition
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid)`);
  return new Set(rows.map((row) => row.name));
}
