import { readOwned, readOwners, readPrivileges, systemPrivileges } from './catalog/access.js';
import { readAccessMethods } from './catalog/access-methods.js';
import { readBaseTypes } from './catalog/base-types.js';
import { readCasts, readConversions } from './catalog/casts.js';
import { readChildValidations } from './catalog/child-validations.js';
import { readCollations } from './catalog/collations.js';
import { type AttachedStatement, readComments } from './catalog/comments.js';
import { readDatabaseSettings } from './catalog/database-settings.js';
import { readDefaultPrivileges } from './catalog/default-privileges.js';
import { readEventTriggers } from './catalog/event-triggers.js';
import { readExtensionData } from './catalog/extension-data.js';
import { readExtensions } from './catalog/extensions.js';
import { readForeignData } from './catalog/foreign-data.js';
import { readFunctions } from './catalog/functions.js';
import { readLanguages, readTransforms } from './catalog/languages.js';
import { readLargeObjects } from './catalog/large-objects.js';
import { readOperatorClasses, readOperators } from './catalog/operators.js';
import {
  readConstraints,
  readDefaults,
  readIndexes,
  readIndexUses,
  readRowSecurity,
  readRules,
  readTriggers,
} from './catalog/post-data.js';
import { readPublications } from './catalog/publications.js';
import type { CatalogReader } from './catalog/query.js';
import { readRelations } from './catalog/relations.js';
import { readSchemas } from './catalog/schemas.js';
import { readSequenceValues } from './catalog/sequence-values.js';
import { readStatistics } from './catalog/statistics.js';
import { readSubscriptions } from './catalog/subscriptions.js';
import { readTextSearch } from './catalog/text-search.js';
import { readTypes } from './catalog/types.js';
import { warnUnsupported } from './catalog/unsupported.js';
import { indexObjects, readDependencies } from './dependencies.js';
import type { DumpObject } from './model.js';
import { orderObjects } from './order.js';
import { type Selection, selectObjects } from './select.js';

/** Readers of the schema-level kinds beyond relations and routines (languages, collations, operators, ...). */
const SCHEMA_KIND_READERS = [
  readLanguages,
  readTransforms,
  readCollations,
  readBaseTypes,
  readCasts,
  readAccessMethods,
  readOperators,
  readOperatorClasses,
  readConversions,
  readTextSearch,
  readForeignData,
  readStatistics,
  readEventTriggers,
];

export interface PlanOptions extends Selection {
  /** ALTER ... OWNER TO for every object (off by default, like pg_dump --no-owner). */
  owners?: boolean;
  /** GRANT/REVOKE reproducing every ACL (off by default, like pg_dump --no-privileges). */
  privileges?: boolean;
  /** The database's own settings and comment, applied to the restored database (like pg_dump --create). */
  databaseSettings?: boolean;
}

/**
 * Reads every object inside the snapshot and returns them in the order the dump writes them, each
 * with its comments (and owner and grants when asked) appended.
 */
export async function planDump(reader: CatalogReader, options: PlanOptions): Promise<DumpObject[]> {
  const objects: DumpObject[] = [];
  for (const read of [
    readSchemas,
    readExtensions,
    readTypes,
    readFunctions,
    readRelations,
    readDefaults,
    readSequenceValues,
    readConstraints,
    readChildValidations,
    readIndexes,
    readIndexUses,
    readTriggers,
    readRules,
    readRowSecurity,
    ...SCHEMA_KIND_READERS,
    readLargeObjects,
    readExtensionData,
    readPublications,
    readSubscriptions,
    warnUnsupported,
  ]) {
    objects.push(...(await read(reader)));
  }
  // Like pg_dump: default privileges go with the other privileges (off: --no-privileges).
  if (options.privileges) objects.push(...(await readDefaultPrivileges(reader)));
  if (options.databaseSettings) {
    const { owners, privileges } = options;
    objects.push(...(await readDatabaseSettings(reader, { owners, privileges })));
  }
  const index = await indexObjects(reader, objects);
  const edges = await readDependencies(reader, objects, index);
  waitForShells(objects, edges);
  if (options.dataOnly) addForeignKeyDataOrder(objects, edges, index.byKey);

  const attached: AttachedStatement[] = await readComments(reader);
  const systemObjects: DumpObject[] = [];
  if (options.owners || options.privileges) {
    const owned = await readOwned(reader);
    if (options.owners) attached.push(...(await readOwners(reader, owned)));
    if (options.privileges) {
      attached.push(...(await readPrivileges(reader, owned, { owners: options.owners })));
      systemObjects.push(...systemPrivileges(owned));
    }
  }
  const extra = new Map<DumpObject, string>();
  for (const statement of attached) {
    const owner = index.resolve(statement.owner);
    if (owner) extra.set(owner, (extra.get(owner) ?? '') + statement.sql);
  }
  const withExtras = objects.map((object) => {
    const sql = extra.get(object);
    if (sql === undefined && object.sqlAfterOwner === undefined) return object;
    const { sqlAfterOwner, ...rest } = object;
    return { ...rest, sql: object.sql + (sql ?? '') + (sqlAfterOwner ?? '') };
  });
  const selected = selectObjects([...withExtras, ...systemObjects], edges, options, reader.warn);
  return orderObjects(selected, edges, reader.warn);
}

/**
 * With --data-only the target already has its foreign keys, so a referenced table's rows must be
 * loaded before the rows that reference them. Deferrable keys are left out: the dump defers them
 * (SET CONSTRAINTS ALL DEFERRED), which is how a cycle of keys loads at all.
 */
function addForeignKeyDataOrder(
  objects: DumpObject[],
  edges: Map<string, Set<string>>,
  byKey: Map<string, DumpObject>,
): void {
  for (const object of objects) {
    if (object.kind !== 'foreign-key' || object.relation === undefined || object.deferrable) continue;
    for (const neededKey of edges.get(object.key) ?? []) {
      const needed = byKey.get(neededKey);
      if (needed?.kind !== 'table' || needed.relation === object.relation) continue;
      edges.get(`data:${object.relation}`)?.add(`data:${needed.relation}`);
    }
  }
}

/**
 * A base type and its I/O functions need each other (the functions return or take the type); the
 * functions wait for the type's shell instead, which is how pg_dump breaks the loop.
 */
function waitForShells(objects: DumpObject[], edges: Map<string, Set<string>>): void {
  for (const object of objects) {
    if (object.shell === undefined) continue;
    for (const needed of object.after) {
      const neededEdges = edges.get(needed);
      if (!neededEdges?.delete(object.key)) continue;
      neededEdges.add(object.shell);
    }
  }
}
