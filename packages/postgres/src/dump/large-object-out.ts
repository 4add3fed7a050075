import { NexusError } from '@nexus-backup/core';
import type pg from 'pg';
import { PROVIDER } from './connection.js';

/** Bytes per `lo_put` statement: 128 KiB of hex text, so neither side ever holds a whole object. */
export const LARGE_OBJECT_CHUNK = 64 * 1024;

/**
 * One large object's content as `SELECT pg_catalog.lo_put(oid, offset, '\x...')` statements, read
 * chunk by chunk with `lo_get` inside the dump's snapshot. Each statement stands alone (no descriptor
 * to carry from one to the next), so psql and our restore load it the same way, one chunk at a time.
 */
export async function* largeObjectOut(client: pg.Client, oid: number): AsyncGenerator<Buffer> {
  for (let offset = 0; ; offset += LARGE_OBJECT_CHUNK) {
    let hex: string;
    try {
      const { rows } = await client.query<{ hex: string }>(
        "SELECT pg_catalog.encode(pg_catalog.lo_get($1, $2, $3), 'hex') AS hex",
        [oid, offset, LARGE_OBJECT_CHUNK],
      );
      hex = rows[0]?.hex ?? '';
    } catch (error) {
      throw new NexusError('IO', `reading large object ${oid} failed: ${(error as Error).message}`, {
        provider: PROVIDER,
        cause: error,
        ...((error as { code?: string }).code === '42501'
          ? {
              hint: 'the user needs SELECT on every large object (or to own them); or leave them out with --tables',
            }
          : {}),
      });
    }
    if (hex.length > 0) yield Buffer.from(`SELECT pg_catalog.lo_put('${oid}', ${offset}, '\\x${hex}');\n`);
    if (hex.length < LARGE_OBJECT_CHUNK * 2) return;
  }
}
