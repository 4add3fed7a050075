import {
  defineSource,
  incompleteWarnings,
  NexusError,
  type OptionValues,
  type RestoreArtifact,
  type RestoreReport,
  type RunContext,
  type Source,
} from '@nexus-backup/core';
import { conninfoHasPassword } from './conninfo-secret.js';
import { databaseRecovery } from './recovery/index.js';
import { planSelection } from './subset/plan.js';

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
  databaseSettings: {
    type: 'boolean',
    description:
      "the database's own settings (ALTER DATABASE/ROLE ... IN DATABASE ... SET) and comment, applied on restore to the restored database whatever its name (like pg_dump --create); the restoring user must own it",
    default: false,
  },
  globals: {
    type: 'boolean',
    description:
      'also store the cluster-wide roles and tablespaces as a second artifact, globals.sql (like pg_dumpall --globals-only, without passwords); restore it with restore --globals-only',
    default: false,
  },
  globalsPasswords: {
    type: 'boolean',
    description:
      "with --globals, include each role's password hash (needs a superuser; the backup must then be encrypted)",
    default: false,
  },
  allowIncomplete: {
    type: 'boolean',
    description:
      'back up what can be dumped when some objects cannot be (exit 1, the manifest lists them); without it such a backup fails (exit 2) naming them',
    default: false,
  },
  since: {
    type: 'string',
    description:
      'only rows whose time column is in the window, closed under foreign keys (with --profile, what the profile means by it): "1 day", "2 hours", "3 weeks", 2024-01-01, "2024-01-01 12:00" (UTC) or ISO 8601',
    placeholder: 'DURATION|DATE',
  },
  sinceColumn: {
    type: 'string[]',
    description:
      "the time column of a table for --since (default: the profile's, else created_at, timestamp, at, ... when present)",
    placeholder: 'TABLE=COLUMN,...',
  },
  untimedTables: {
    type: 'string',
    // No declared default: callers that build the options object in code need not name it.
    description:
      'with --since, tables without a time column: whole (every row, the default) or referenced (only rows that selected rows need)',
    choices: ['whole', 'referenced'],
  },
  where: {
    type: 'string',
    description:
      'only rows of one root table matching an SQL condition, closed under foreign keys; values via --param as $1, $2, ...',
    placeholder: '"TABLE: CONDITION"',
  },
  param: {
    type: 'string[]',
    description:
      'values bound to $1, $2, ... of --where or of the --select selection, one --param each (bound, never spliced into the SQL)',
    placeholder: 'VALUE',
    commaSeparated: false,
  },
  group: {
    type: 'string[]',
    description:
      'widen the selection to whole groups: every row of TABLE sharing COLUMN with a selected row (e.g. api_requests.conversation_id)',
    placeholder: 'TABLE.COLUMN,...',
  },
  profile: {
    type: 'string',
    description:
      'what the selection options know of your application: a built-in profile (claude-nexus) or your own YAML file; see "Profiles" in the README',
    placeholder: 'NAME|FILE',
  },
  select: {
    type: 'string',
    description:
      "one of the profile's named selections, its values given with --param (e.g. --select tenant --param acme)",
    placeholder: 'NAME',
  },
  conversationId: {
    type: 'string',
    description:
      'one conversation: short for --select conversation --param UUID (claude-nexus profile, recognised from the tables without --profile); chunks only with --include-chunks',
    placeholder: 'UUID',
  },
  includeChunks: {
    type: 'boolean',
    description:
      "with --conversation-id (or --select), also the selection's chunks: rows that reference its requests through a foreign key",
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
    description:
      'create this new database on the server of --db and restore into it (without NAME: <db>_backup_<YYYYMMDD_HHMMSS>)',
    placeholder: 'NAME',
    valueOptional: true,
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
  globalsOnly: {
    type: 'boolean',
    description:
      "restore the backup's globals.sql (roles and tablespaces, made with --globals) instead of the database, like pg_dumpall --globals-only: onto the server of --db, or into --to-file",
    default: false,
  },
  jobs: {
    type: 'number',
    description:
      'with --create-db: connections building indexes, keys and foreign keys side by side (like pg_restore -j); the new database is dropped if any fails',
    default: 1,
    placeholder: 'N',
  },
  toDb: {
    type: 'string',
    description:
      'merge the rows into this existing database that already has the schema (URL): shared columns only, existing rows left alone, one transaction',
    placeholder: 'URL',
  },
  dryRun: {
    type: 'boolean',
    description: 'with --to-db: check both sides and report per table what would be copied, writing nothing',
    default: false,
  },
} as const;

/** The one artifact of a postgres backup (kept here so loading the definition loads no dump code). */
const ARTIFACT = 'database.sql';
/** The cluster-wide roles and tablespaces, with --globals. */
const GLOBALS = 'globals.sql';

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
  // Role password hashes are secrets: a backup holding them must be encrypted, like credentials.
  requiresEncryption: (options) => options.globalsPasswords === true,
  // Dump text compresses to about gzip -6's size with zstd -3 at several times the speed (bench/README.md).
  defaultCompression: 'zstd',
  argvSecrets: {
    schemes: ['postgres', 'postgresql'],
    detect: conninfoHasPassword,
    hint: 'put the password in PGPASSWORD or ~/.pgpass, or the whole URL in DATABASE_URL (or in the config file as $VAR)',
  },
  create(options) {
    if (options.globalsPasswords && !options.globals) {
      throw new NexusError('USAGE', '--globals-passwords needs --globals', {
        provider: 'postgres',
        hint: 'add --globals, or drop --globals-passwords',
      });
    }
    if (options.schemaOnly && options.dataOnly) {
      throw new NexusError('USAGE', '--schema-only and --data-only exclude each other', {
        provider: 'postgres',
        hint: 'pass one of them (or neither, for schema and data)',
      });
    }
    return createPostgresSource(options);
  },
});

/** The source itself, once the row options are checked (reading a profile file is asynchronous). */
async function createPostgresSource(options: PostgresSourceOptions): Promise<Source> {
  // Checked before anything connects: a bad --since, UUID or profile is a usage error, not a failed run.
  const selection = await planSelection(options);
  if (selection && options.schemaOnly) {
    throw new NexusError('USAGE', '--schema-only dumps no rows, so a row selection makes no sense with it', {
      provider: 'postgres',
      hint: 'drop --schema-only, or the selection options',
    });
  }
  return {
    recovery: databaseRecovery,
    async describe() {
      const { describeDatabase } = await import('./dump/describe.js');
      return describeDatabase(options);
    },
    async *backup(ctx) {
      const { startDump } = await import('./dump/dump.js');
      const rows = selection
        ? (await import('./subset/row-filter.js')).selectionRowFilter(selection)
        : undefined;
      if (options.globals) {
        // Cluster-wide, so outside the database's snapshot; first, like pg_dumpall writes them.
        const { dumpGlobals } = await import('./dump/globals.js');
        yield await dumpGlobals({ db: options.db, passwords: options.globalsPasswords });
      }
      const artifact = await startDump({ ...options, ...(rows ? { rows } : {}) }, ctx);
      try {
        yield artifact;
      } finally {
        // A caller that stops without reading the stream must not leave the snapshot open.
        if (!artifact.stream.readableEnded) artifact.stream.destroy();
      }
    },
    async settleTarget(ctx, target) {
      const { settleTarget } = await import('./restore/settle-target.js');
      return settleTarget(ctx, {
        ...(typeof target.db === 'string' ? { db: target.db } : {}),
        ...(typeof target.createDb === 'string' ? { createDb: target.createDb } : {}),
        ...(typeof target.toFile === 'string' ? { toFile: target.toFile } : {}),
      });
    },
    async restore(ctx, artifacts, target) {
      const { restoreSql } = await import('./restore/index.js');
      // The iterator stays open until the restore has read the stream: closing it early would let a
      // live source (copy postgres) end its dump before the bytes arrive.
      const iterator = artifacts[Symbol.asyncIterator]();
      try {
        if (target.globalsOnly === true) return await restoreGlobals(ctx, iterator, target);
        const artifact = await nextArtifact(iterator, ARTIFACT);
        if (typeof target.toDb === 'string' || target.dryRun === true) {
          // Rows merged into a database that already has its schema (copy --to-db), see SUBSET.md.
          const { mergeInto } = await import('./subset/merge/merge-into.js');
          return await mergeInto({ input: artifact.stream, target, ctx });
        }
        const report = await restoreSql({
          input: artifact.stream,
          target: {
            ...(typeof target.db === 'string' ? { db: target.db } : {}),
            ...(typeof target.createDb === 'string' ? { createDb: target.createDb } : {}),
            ...(typeof target.toFile === 'string' ? { toFile: target.toFile } : {}),
          },
          singleTransaction: target.singleTransaction !== false,
          ...(typeof target.jobs === 'number' ? { jobs: target.jobs } : {}),
          // A data-only dump goes into a database that already has the schema.
          allowNonEmpty: artifact.meta.dataOnly === true,
          ctx,
        });
        // A dump made with --allow-incomplete (a backup, or the live one of `copy`) names what it lacks.
        const warnings = incompleteWarnings(artifact.name, artifact.meta);
        return warnings.length > 0 ? { ...report, warnings } : report;
      } finally {
        await iterator.return?.();
      }
    },
    async drill(ctx, artifacts, drillOptions) {
      const { drillDatabase } = await import('./drill/drill-database.js');
      const iterator = artifacts[Symbol.asyncIterator]();
      try {
        return await drillDatabase(ctx, await nextArtifact(iterator, ARTIFACT), drillOptions);
      } finally {
        await iterator.return?.();
      }
    },
  };
}

/** A postgres backup has `database.sql` and, with --globals, `globals.sql`; the other one is skipped. */
async function nextArtifact(
  iterator: AsyncIterator<RestoreArtifact>,
  name: string,
): Promise<RestoreArtifact> {
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    if (next.value.name === name) return next.value;
    next.value.stream.destroy();
  }
  throw new NexusError('NOT_FOUND', `the backup has no ${name} artifact`, {
    provider: 'postgres',
    hint:
      name === GLOBALS
        ? 'back up with --globals to keep the roles and tablespaces'
        : 'restore a backup made by the postgres source',
  });
}

/**
 * `--globals-only`: the roles and tablespaces onto the server of --db (any database there), or into a
 * file. Not in one transaction: CREATE TABLESPACE cannot run in one.
 */
async function restoreGlobals(
  ctx: RunContext,
  iterator: AsyncIterator<RestoreArtifact>,
  target: OptionValues,
): Promise<RestoreReport> {
  if (typeof target.createDb === 'string' || typeof target.toDb === 'string') {
    throw new NexusError(
      'USAGE',
      '--globals restores roles and tablespaces onto a server, not into a database',
      {
        provider: 'postgres',
        hint: 'give --db URL of any database on the server (or --to-file), without --create-db or --to-db',
      },
    );
  }
  const { restoreSql } = await import('./restore/index.js');
  const artifact = await nextArtifact(iterator, GLOBALS);
  return restoreSql({
    input: artifact.stream,
    target: {
      ...(typeof target.db === 'string' ? { db: target.db } : {}),
      ...(typeof target.toFile === 'string' ? { toFile: target.toFile } : {}),
    },
    singleTransaction: false,
    allowNonEmpty: true,
    ctx,
  });
}
