import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, statement } from './query.js';

/**
 * Each large object is one data-section object: `lo_create` with its oid (so oid columns that point at
 * it stay right), its comment, owner and grants appended like any object's, then its bytes streamed
 * by the writer as `lo_put` chunks (see large-object-out.ts). Table selections leave them out, like
 * pg_dump without --large-objects.
 */
export async function readLargeObjects(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{ oid: number }>(
    'SELECT l.oid FROM pg_catalog.pg_largeobject_metadata l ORDER BY l.oid',
  );
  return rows.map((row) =>
    dumpObject({
      key: identity('pg_largeobject', row.oid),
      kind: 'large-object',
      section: 'data',
      // Zero-padded so the name order (the writer's tie-break) is the oid order.
      name: `large object ${String(row.oid).padStart(10, '0')}`,
      sql: statement(`SELECT pg_catalog.lo_create('${row.oid}')`),
      identities: [identity('pg_largeobject', row.oid)],
      largeObject: row.oid,
    }),
  );
}
