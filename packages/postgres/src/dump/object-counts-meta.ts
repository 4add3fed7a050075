import type { Json } from '@nexus-backup/core';
import type pg from 'pg';
import { countObjectsByKind, DEFAULT_PRIVILEGES } from './object-counts.js';
import type { PlanOptions } from './plan.js';

/**
 * The artifact meta a restore drill compares against: `objects` (counts by kind, see object-counts.ts)
 * for a dump of the whole schema, else `objectsNotCounted` saying why (the catalog of the database
 * then holds more than the dump restores, so its counts would not be a fair oracle).
 */
export async function recordObjectCounts(
  client: pg.Client,
  options: PlanOptions,
): Promise<{ [key: string]: Json }> {
  const partial = options.dataOnly
    ? 'a data-only dump holds no objects'
    : options.tables?.length || options.excludeTables?.length
      ? 'the dump holds selected tables only'
      : undefined;
  if (partial) return { objectsNotCounted: partial };
  const objects = await countObjectsByKind(client);
  // Default privileges are ACLs: a dump without privileges leaves them out, as pg_dump --no-privileges does.
  if (!options.privileges) delete objects[DEFAULT_PRIVILEGES];
  return { objects };
}
