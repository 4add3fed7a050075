import { Readable } from 'node:stream';
import { type Json, NexusError, type RestoreArtifact } from '@nexus-backup/core';

/** Written by a dump with --globals; restored only with --globals-only. */
const GLOBALS = 'globals.sql';
/** The one artifact of a backup made before the per-table layout. */
const SINGLE = 'database.sql';

/**
 * The database script of a postgres backup as one artifact, whatever its layout: the single
 * `database.sql` of older backups as it is, or the per-table artifacts (`pre-data.sql`,
 * `data-NNNN.sql`, ..., `post-data.sql`) read one after the other in manifest order, which is one
 * plain SQL script. `globals.sql` is skipped. The meta is the pre-data artifact's, with `rows` the
 * union of the data artifacts' rows, filled in as each of them ends (a live dump counts while it streams).
 *
 * Each artifact is pulled from `iterator` only once the one before has been read to its end, so a
 * live source (copy) streams one artifact at a time, and a consumer that stops early leaves the rest
 * unopened.
 */
export async function concatenatedArtifacts(
  iterator: AsyncIterator<RestoreArtifact>,
): Promise<RestoreArtifact> {
  const first = await nextDatabaseArtifact(iterator);
  if (!first) {
    throw new NexusError('NOT_FOUND', 'the backup has no database artifact', {
      provider: 'postgres',
      hint: 'restore a backup made by the postgres source',
    });
  }
  if (first.name === SINGLE || first.meta.layout !== 'per-table') return first;
  const rows: { [table: string]: Json } = {};
  async function* script(): AsyncGenerator<Buffer> {
    let current: RestoreArtifact | undefined = first;
    try {
      while (current) {
        for await (const chunk of current.stream) yield chunk as Buffer;
        const counted = current.meta.rows;
        if (counted && typeof counted === 'object' && !Array.isArray(counted)) Object.assign(rows, counted);
        current = await nextDatabaseArtifact(iterator);
      }
    } finally {
      // Stopped early (an error, a destroyed output): the artifact being read goes too.
      if (current && !current.stream.readableEnded) current.stream.destroy();
    }
  }
  return {
    name: first.name,
    stream: Readable.from(script(), { objectMode: false, highWaterMark: 64 * 1024 }),
    rawBytes: 0,
    meta: { ...first.meta, rows },
  };
}

/** The next artifact of the database itself; `globals.sql` (roles, made with --globals) is skipped unread. */
export async function nextDatabaseArtifact(
  iterator: AsyncIterator<RestoreArtifact>,
): Promise<RestoreArtifact | undefined> {
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    if (next.value.name !== GLOBALS) return next.value;
    next.value.stream.destroy();
  }
  return undefined;
}
