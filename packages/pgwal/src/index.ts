import { defineSource } from '@nexus-backup/core';
import { baseBackup, connect, serverFacts } from './base-backup.js';
import { type BaseRestoreTarget, restoreBase } from './base-restore.js';
import { chooseBaseBackup } from './choose-base.js';
import { checkWalArchives, verifyWalData } from './wal-checks.js';
import { walCommands } from './wal-commands.js';
import { pruneWalArchives } from './wal-retention.js';

export { checkContinuity } from './continuity.js';
export { fetchWalFile } from './wal-fetch.js';
export { judgeWalArchive } from './wal-health.js';
export { pushWalFile } from './wal-push.js';

/**
 * Point-in-time recovery: `backup pgbase` takes base backups with PostgreSQL's non-exclusive API,
 * `wal push`/`wal fetch` archive and restore WAL (archive_command / restore_command), and
 * `restore <base>@latest --to-pgdata DIR --target-time T` writes a data directory that replays to T.
 */
export const pgbase = defineSource({
  name: 'pgbase',
  description:
    'PostgreSQL base backup of a data directory for point-in-time recovery (with WAL archived by `wal push`)',
  options: {
    db: {
      type: 'string',
      description: 'connection URL of the server (no password: use PGPASSWORD or ~/.pgpass)',
      env: 'DATABASE_URL',
      required: true,
      placeholder: 'URL',
    },
    pgdata: {
      type: 'string',
      description: "the server's data directory, read directly (run on the database host)",
      required: true,
      placeholder: 'DIR',
    },
    walPipeline: {
      type: 'string',
      description: 'the pipeline `wal push` archives into (recorded for restore, verify and prune)',
      default: 'wal',
    },
  },
  restoreOptions: {
    toPgdata: {
      type: 'string',
      description: 'new or empty data directory to write',
      required: true,
      placeholder: 'DIR',
    },
    targetTime: {
      type: 'string',
      description: "replay WAL up to this time, e.g. '2026-12-06 14:05:00+00'",
      placeholder: 'TIME',
    },
    targetLsn: {
      type: 'string',
      description: 'replay WAL up to this LSN, e.g. 0/3000060',
      placeholder: 'LSN',
    },
    targetName: {
      type: 'string',
      description: 'replay WAL up to this pg_create_restore_point() name',
      placeholder: 'NAME',
    },
    targetXid: { type: 'string', description: 'replay WAL up to this transaction id', placeholder: 'XID' },
    targetTimeline: {
      type: 'string',
      description: 'recovery_target_timeline: latest, current or a number',
      placeholder: 'TLI',
    },
    targetAction: {
      type: 'string',
      description: 'what the server does at the target',
      choices: ['promote', 'pause', 'shutdown'],
      default: 'promote',
    },
    // The restore command's own --from: restore_command fetches WAL from the same repository by default.
    from: { type: 'string', description: 'the repository restored from' },
    walFrom: { type: 'string', description: 'repository restore_command fetches WAL from (default: --from)' },
    walPipeline: {
      type: 'string',
      description: "WAL pipeline for restore_command (default: the base backup's)",
    },
    walCommand: {
      type: 'string',
      description: 'how restore_command runs nexus-backup on the database host',
      default: 'nexus-backup',
      placeholder: 'COMMAND',
    },
    walConfig: {
      type: 'string',
      description: 'config file restore_command passes to wal fetch',
      placeholder: 'FILE',
    },
    walPassphraseFile: {
      type: 'string',
      description: 'passphrase file restore_command passes to wal fetch (encrypted WAL)',
      placeholder: 'FILE',
    },
    walPrefetch: {
      type: 'number',
      description: 'restore_command fetches this many following segments ahead (wal fetch --prefetch)',
      integer: true,
      min: 0,
      max: 64,
      placeholder: 'N',
    },
  },
  commands: walCommands,
  create(options) {
    return {
      async describe() {
        const client = await connect(options.db);
        try {
          const facts = await serverFacts(client);
          return {
            serverVersion: facts.serverVersion,
            systemIdentifier: facts.systemIdentifier,
            pgdata: options.pgdata,
            walPipeline: options.walPipeline,
            walSegmentBytes: facts.segmentBytes,
          };
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      backup: (ctx) =>
        baseBackup({ db: options.db, pgdata: options.pgdata, walPipeline: options.walPipeline }, ctx),
      restore: (ctx, artifacts, target) =>
        restoreBase(ctx, artifacts, target as unknown as BaseRestoreTarget),
    };
  },
  afterPrune: pruneWalArchives,
  verifyData: verifyWalData,
  checkOptions: {
    maxWalAge: {
      type: 'string',
      description:
        'WAL archiving: the newest archived WAL file must be younger than this; m means minutes here, e.g. 15m',
      placeholder: 'DURATION',
    },
    walPipeline: {
      type: 'string',
      description: 'the WAL pipeline to check (default: those the base backups archive into, else wal)',
      placeholder: 'PIPELINE',
    },
    db: {
      type: 'string',
      description:
        "WAL archiving: also read this server's pg_stat_archiver and fail while archive_command is failing",
      placeholder: 'URL',
    },
  },
  check: (repository, options, ctx) => checkWalArchives(repository, options, ctx),
  chooseRestoreBackup: chooseBaseBackup,
});
