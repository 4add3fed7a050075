import { availableParallelism } from 'node:os';
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
  jobs: {
    type: 'number',
    integer: true,
    min: 1,
    max: 16,
    // No declared default: it depends on the machine (see defaultJobs).
    description:
      'connections reading table data side by side, all in the one snapshot, largest tables first; the artifacts compress and upload side by side too (default: the number of cores, at most 4). A row selection (--since, --where, --select, --conversation-id) always reads on one connection',
    placeholder: 'N',
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
    description:
      'restore on one connection in one transaction, so a failure leaves the target as it was (the default, except for a per-table backup into --create-db, or into --db with --jobs above 1)',
  },
  globalsOnly: {
    type: 'boolean',
    description:
      "restore the backup's globals.sql (roles and tablespaces, made with --globals) instead of the database, like pg_dumpall --globals-only: onto the server of --db, or into --to-file",
    default: false,
  },
  jobs: {
    type: 'number',
    // No declared default: it depends on the target and the machine (see parallelRestorePlan).
    description:
      'connections loading tables and building indexes, keys and foreign keys side by side, like pg_restore -j. With --create-db the default is the number of cores (at most 4): a failure drops the new database, so it stays all or nothing. Into --db only when given (above 1): a failure then leaves a partly loaded database; --single-transaction keeps one connection and one transaction. Backups made before per-table artifacts: --create-db only, for the index builds',
    placeholder: 'N',
  },
  table: {
    type: 'string[]',
    description:
      'restore only this table (NAME when one schema has it, else SCHEMA.NAME; repeat for more) with its indexes, constraints, triggers and policies and every object of no table (schemas, types, functions, extensions, views over restored tables), reading only its data artifacts; a foreign key or view that needs a table not restored is left out with a warning (exit 1); large objects are not restored; needs a backup with per-table artifacts (older single database.sql backups are refused)',
    placeholder: 'NAME',
    commaSeparated: false,
  },
  dataOnly: {
    type: 'boolean',
    description:
      "with --table: only those tables' rows and their own sequences' values, into --db that already has the tables (deferrable foreign keys are checked at commit)",
    default: false,
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

/** The cluster-wide roles and tablespaces, with --globals. */
const GLOBALS = 'globals.sql';

export type PostgresSourceOptions = OptionValues<typeof sourceOptions>;

/**
 * PostgreSQL logical backup through `pg`, taken from one consistent snapshot: plain-SQL artifacts
 * (`pre-data.sql`, `data-NNNN.sql`, ..., `post-data.sql`) that, concatenated in manifest order, are one
 * script `psql -f` restores as it is; restore runs it without psql. Older backups hold one `database.sql`.
 */
export const postgres = defineSource({
  name: 'postgres',
  description: 'PostgreSQL database (13-18) as plain SQL, through pg: no pg_dump needed',
  options: sourceOptions,
  restoreOptions,
  // Role password hashes are secrets: a backup holding them must be encrypted, like credentials.
  requiresEncryption: (options) => options.globalsPasswords === true,
  // Dump text compresses a little smaller than gzip -6 with zstd -2 at several times the speed (bench/README.md).
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
  const jobs = options.jobs ?? defaultJobs();
  return {
    recovery: databaseRecovery,
    // Each data artifact streams from its own connection; core stores that many side by side.
    concurrentArtifacts: selection ? 1 : jobs,
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
      const dump = await startDump({ ...options, jobs, ...(rows ? { rows } : {}) }, ctx);
      let finished = false;
      try {
        for (const artifact of dump.artifacts) yield artifact;
        finished = true;
      } finally {
        // A caller that stops early must not leave the snapshot open; one that took every artifact
        // may still be reading them (side by side), and their streams close the connections.
        if (!finished) dump.destroy();
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
      const { restoreSql, sqlRestoreOptions } = await import('./restore/index.js');
      const { concatenatedArtifacts } = await import('./restore/concatenated-artifacts.js');
      // The iterator stays open until the restore has read the stream: closing it early would let a
      // live source (copy postgres) end its dump before the bytes arrive.
      const iterator = artifacts[Symbol.asyncIterator]();
      try {
        if (target.globalsOnly === true) return await restoreGlobals(ctx, iterator, target);
        if (Array.isArray(target.table) && target.table.length > 0) {
          const { restoreTables } = await import('./restore/restore-tables.js');
          return await restoreTables(ctx, iterator, target);
        }
        const { parallelRestorePlan, peekDatabaseArtifact } = await import(
          './restore/parallel-restore-plan.js'
        );
        const { first, replay } = await peekDatabaseArtifact(iterator);
        if (target.dataOnly === true && first?.meta.dataOnly !== true) throw dataOnlyNeedsTables();
        const parallel = first && parallelRestorePlan(first.meta, target);
        if (first && parallel) {
          // A per-table backup into a new or an empty database: data and index builds on N connections.
          const { restorePerTable } = await import('./restore/per-table-restore.js');
          const report = await restorePerTable({ preData: first, rest: iterator, ...parallel, ctx });
          const warnings = incompleteWarnings(first.name, first.meta);
          return warnings.length > 0 ? { ...report, warnings } : report;
        }
        const artifact = await concatenatedArtifacts(replay);
        if (typeof target.toDb === 'string' || target.dryRun === true) {
          // Rows merged into a database that already has its schema (copy --to-db), see SUBSET.md.
          const { mergeInto } = await import('./subset/merge/merge-into.js');
          return await mergeInto({ input: artifact.stream, target, ctx });
        }
        const report = await restoreSql({
          input: artifact.stream,
          ...sqlRestoreOptions(target, artifact.meta),
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
      const { concatenatedArtifacts } = await import('./restore/concatenated-artifacts.js');
      const iterator = artifacts[Symbol.asyncIterator]();
      try {
        return await drillDatabase(ctx, await concatenatedArtifacts(iterator), drillOptions);
      } finally {
        await iterator.return?.();
      }
    },
  };
}

/** `restore --data-only` of a whole backup: the rows of which tables? (A data-only backup is rows already.) */
function dataOnlyNeedsTables(): NexusError {
  return new NexusError('USAGE', '--data-only restores the rows of the tables named with --table', {
    provider: 'postgres',
    hint: 'add --table NAME for each table whose rows to restore',
  });
}

/** Connections of a dump without --jobs: one per core, at most 4 (more rarely pays on one server). */
function defaultJobs(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/** With --globals-only, the backup's `globals.sql`; the database's artifacts are skipped. */
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
    hint: 'back up with --globals to keep the roles and tablespaces',
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
