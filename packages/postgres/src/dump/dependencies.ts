import type { CatalogReader } from './catalog/query.js';
import { type DumpObject, identity } from './model.js';

/** Resolves catalog identities to the dump objects that create them. */
export interface ObjectIndex {
  byKey: Map<string, DumpObject>;
  byIdentity: Map<string, DumpObject>;
  /** Finds the object for an identity, falling back to the relation or type that owns the catalog row. */
  resolve(catalogIdentity: string): DumpObject | undefined;
}

/**
 * Catalog rows that have no object of their own (an inline CHECK, a generated column's expression, a
 * view's `_RETURN` rule, an array type, an identity column's sequence, whose comment and grants follow
 * the table that creates it) map to the object of the relation or type they belong to. A
 * partition's copy of its parent's constraint (a foreign key) maps to the parent's constraint: it
 * comes with it, so the partition table itself must not wait for what the key needs (the referenced
 * table's unique index, a post-data object).
 */
async function readOwners(reader: CatalogReader): Promise<Map<string, string>> {
  const rows = await reader.rows<{ item: string; owner: string }>(`
    SELECT 'pg_constraint:' || oid AS item,
      CASE WHEN conparentid <> 0 THEN 'pg_constraint:' || conparentid
        WHEN conrelid <> 0 THEN 'pg_class:' || conrelid ELSE 'pg_type:' || contypid END AS owner
      FROM pg_catalog.pg_constraint WHERE oid >= 16384
    UNION ALL SELECT 'pg_attrdef:' || oid, 'pg_class:' || adrelid FROM pg_catalog.pg_attrdef
    UNION ALL SELECT 'pg_rewrite:' || oid, 'pg_class:' || ev_class FROM pg_catalog.pg_rewrite WHERE oid >= 16384
    UNION ALL SELECT 'pg_trigger:' || oid, 'pg_class:' || tgrelid FROM pg_catalog.pg_trigger WHERE oid >= 16384
    UNION ALL SELECT 'pg_policy:' || oid, 'pg_class:' || polrelid FROM pg_catalog.pg_policy
    UNION ALL SELECT 'pg_type:' || oid, CASE WHEN typrelid <> 0 THEN 'pg_class:' || typrelid ELSE 'pg_type:' || typelem END
      FROM pg_catalog.pg_type WHERE oid >= 16384 AND (typrelid <> 0 OR typelem <> 0)
    UNION ALL SELECT 'pg_class:' || i.indexrelid, 'pg_class:' || i.indrelid FROM pg_catalog.pg_index i WHERE i.indexrelid >= 16384
    UNION ALL SELECT 'pg_class:' || d.objid, 'pg_class:' || d.refobjid FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'
      WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
        AND d.deptype = 'i' AND d.objid >= 16384`);
  return new Map(rows.map((row) => [row.item, row.owner]));
}

export async function indexObjects(reader: CatalogReader, objects: DumpObject[]): Promise<ObjectIndex> {
  const byKey = new Map(objects.map((object) => [object.key, object]));
  const byIdentity = new Map<string, DumpObject>();
  for (const object of objects) for (const id of object.identities) byIdentity.set(id, object);
  const owners = await readOwners(reader);
  const resolve = (catalogIdentity: string): DumpObject | undefined => {
    let current: string | undefined = catalogIdentity;
    for (let hops = 0; current !== undefined && hops < 4; hops++) {
      const found = byIdentity.get(current);
      if (found) return found;
      current = owners.get(current);
    }
    return undefined;
  };
  return { byKey, byIdentity, resolve };
}

/**
 * Dependency edges between dump objects: every pg_depend row between two user objects (normal and
 * auto dependencies), plus each object's explicit `after` list. Returns dependent key -> keys it needs.
 */
export async function readDependencies(
  reader: CatalogReader,
  objects: DumpObject[],
  index: ObjectIndex,
): Promise<Map<string, Set<string>>> {
  const edges = new Map<string, Set<string>>(objects.map((object) => [object.key, new Set<string>()]));
  const add = (from: DumpObject | undefined, to: DumpObject | undefined) => {
    if (!from || !to || from === to) return;
    edges.get(from.key)?.add(to.key);
  };
  const rows = await reader.rows<{ object: string; referenced: string }>(`
    SELECT classid::pg_catalog.regclass::text || ':' || objid AS object,
      refclassid::pg_catalog.regclass::text || ':' || refobjid AS referenced
    FROM pg_catalog.pg_depend
    WHERE deptype IN ('n', 'a') AND objid >= 16384 AND refobjid >= 16384 AND classid <> 0`);
  for (const row of rows) add(index.resolve(row.object), index.resolve(row.referenced));
  for (const object of objects) {
    for (const needed of object.after) add(object, index.byKey.get(needed) ?? index.resolve(needed));
  }
  return edges;
}

export { identity };
