import { defineSource, NexusError, type OptionValues, type RestoreArtifact } from '@nexus-backup/core';

const sourceOptions = {
  db: {
    type: 'string',
    description:
      'PostgreSQL URL of the database to back up (postgresql://user@host:5432/db; the password comes from PGPASSWORD, ~/.pgpass or DATABASE_URL, never argv)',
    required: true,
    env: 'DATABASE_URL',
    placeholder: 'URL',
  },
  tables: {
    type: 'string[]',
    description:
      'only these tables (schema.table or table, * and ? wildcards), with what they need; partitions come with their table',
    placeholder: 'PATTERN,...',
  },
  excludeTables: {
    type: 'string[]',
    description: 'leave out these tables (same patterns) and every object that depends on them',
    placeholder: 'PATTERN,...',
  },
  schemaOnly: { type: 'boolean', description: 'objects only, no table data', default: false },
  dataOnly: {
    type: 'boolean',
    description: 'table data and sequence values only, for an existing schema',
    default: false,
  },
  owners: {
    type: 'boolean',
    description: 'set each object owner (ALTER ... OWNER TO); off like pg_dump --no-owner',
    default: false,
  },
  privileges: {
    type: 'boolean',
    description: 'reproduce grants (GRANT/REVOKE); off like pg_dump --no-privileges',
    default: false,
  },
} as const;

const restoreOptions = {
  db: {
    type: 'string',
    description:
      'an existing empty database to restore into (URL); with --create-db, the server to create it on',
    env: 'DATABASE_URL',
    placeholder: 'URL',
  },
  createDb: {
    type: 'string',
    description: 'create this new database on the server of --db and restore into it',
    placeholder: 'NAME',
  },
  toFile: {
    type: 'string',
    description: 'write the SQL to this file instead of a database',
    placeholder: 'FILE',
  },
  singleTransaction: {
    type: 'boolean',
    description: 'restore in one transaction, so a failure leaves the target as it was',
    default: true,
  },
} as const;

/** The one artifact of a postgres backup (kept here so loading the definition loads no dump code). */
const ARTIFACT = 'database.sql';

export type PostgresSourceOptions = OptionValues<typeof sourceOptions>;

/**
 * PostgreSQL logical backup through `pg`: one plain-SQL artifact (`database.sql`) taken from one
 * consistent snapshot, that `psql -f` restores as it is; restore runs it without psql.
 */
export const postgres = defineSource({
  name: 'postgres',
  description: 'PostgreSQL database (13-18) as plain SQL, through pg: no pg_dump needed',
  options: sourceOptions,
  restoreOptions,
  create(options) {
    if (options.schemaOnly && options.dataOnly) {
      throw new NexusError('USAGE', '--schema-only and --data-only exclude each other', {
        provider: 'postgres',
        hint: 'pass one of them (or neither, for schema and data)',
      });
    }
    return {
      async describe() {
        const { describeDatabase } = await import('./dump/describe.js');
        return describeDatabase(options);
      },
      async *backup(ctx) {
        const { startDump } = await import('./dump/dump.js');
        const artifact = await startDump(options, ctx);
        try {
          yield artifact;
        } finally {
          // A caller that stops without reading the stream must not leave the snapshot open.
          if (!artifact.stream.readableEnded) artifact.stream.destroy();
        }
      },
      async restore(ctx, artifacts, target) {
        const { restoreSql } = await import('./restore/index.js');
        // The iterator stays open until the restore has read the stream: closing it early would let a
        // live source (copy postgres) end its dump before the bytes arrive.
        const iterator = artifacts[Symbol.asyncIterator]();
        try {
          const artifact = await nextDatabaseArtifact(iterator);
          return await restoreSql({
            input: artifact.stream,
            target: {
              ...(typeof target.db === 'string' ? { db: target.db } : {}),
              ...(typeof target.createDb === 'string' ? { createDb: target.createDb } : {}),
              ...(typeof target.toFile === 'string' ? { toFile: target.toFile } : {}),
            },
            singleTransaction: target.singleTransaction !== false,
            // A data-only dump goes into a database that already has the schema.
            allowNonEmpty: artifact.meta.dataOnly === true,
            ctx,
          });
        } finally {
          await iterator.return?.();
        }
      },
    };
  },
});

/** A postgres backup has one artifact, `database.sql`; anything else is skipped. */
async function nextDatabaseArtifact(iterator: AsyncIterator<RestoreArtifact>): Promise<RestoreArtifact> {
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    if (next.value.name === ARTIFACT) return next.value;
    next.value.stream.destroy();
  }
  throw new NexusError('NOT_FOUND', `the backup has no ${ARTIFACT} artifact`, {
    provider: 'postgres',
    hint: 'restore a backup made by the postgres source',
  });
}
