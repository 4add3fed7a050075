import { Readable } from 'node:stream';
import { type Artifact, type Json, NexusError, type RunContext } from '@nexus-backup/core';
import type pg from 'pg';
import { DATA_ARTIFACT, LABEL_ARTIFACT, TABLESPACE_MAP_ARTIFACT, toWalMeta } from './base-info.js';

export interface BaseBackupOptions {
  db: string;
  pgdata: string;
  walPipeline: string;
}

interface ServerFacts {
  versionNum: number;
  serverVersion: string;
  segmentBytes: number;
  archiveMode: string;
  systemIdentifier: string;
}

export async function connect(url: string): Promise<pg.Client> {
  // Loaded here, not at the top: every `wal push` loads this package, and only base backups need pg.
  const { default: postgres } = await import('pg');
  const client = new postgres.Client({ connectionString: url, application_name: 'nexus-backup pgbase' });
  try {
    await client.connect();
  } catch (error) {
    throw new NexusError('CONNECTION', `cannot connect to PostgreSQL: ${(error as Error).message}`, {
      provider: 'pgbase',
      cause: error,
      hint: 'check --db (or DATABASE_URL) and PGPASSWORD / ~/.pgpass',
    });
  }
  return client;
}

export async function serverFacts(client: pg.Client): Promise<ServerFacts> {
  const { rows } = await client.query<{
    num: string;
    version: string;
    segment: string;
    archive: string;
    system: string;
    recovery: boolean;
  }>(
    `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version,
            (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS segment,
            current_setting('archive_mode') AS archive, (SELECT system_identifier::text FROM pg_control_system()) AS system,
            pg_is_in_recovery() AS recovery`,
  );
  const row = rows[0];
  if (!row) throw new NexusError('INTERNAL', 'the server returned no settings', { provider: 'pgbase' });
  if (row.recovery) {
    throw new NexusError('POLICY', 'the server is a standby; take base backups from the primary', {
      provider: 'pgbase',
    });
  }
  return {
    versionNum: Number(row.num),
    serverVersion: row.version,
    // wal_segment_size is in bytes (unit B) on 11+.
    segmentBytes: Number(row.segment),
    archiveMode: row.archive,
    systemIdentifier: row.system,
  };
}

/**
 * A base backup with PostgreSQL's non-exclusive low-level API: `pg_backup_start` (15+) or
 * `pg_start_backup(..., exclusive => false)` (13-14) on one session kept open while the data directory
 * streams as a tar, then the stop call on that same session, whose `backup_label` (and
 * `tablespace_map`) become the last artifacts. The stop call waits until the last WAL segment the
 * backup needs is archived, so a finished backup is restorable.
 */
export async function* baseBackup(options: BaseBackupOptions, ctx: RunContext): AsyncGenerator<Artifact> {
  const client = await connect(options.db);
  try {
    const facts = await serverFacts(client);
    if (facts.archiveMode === 'off') {
      throw new NexusError(
        'POLICY',
        'archive_mode is off: a base backup without archived WAL cannot be restored',
        {
          provider: 'pgbase',
          hint: "set archive_mode = on, wal_level = replica and archive_command = 'nexus-backup wal push %p --to <repository>' in postgresql.conf, then restart PostgreSQL",
        },
      );
    }
    const label = `nexus-backup ${new Date().toISOString()}`;
    const modern = facts.versionNum >= 150000;
    const start = await client.query<{ lsn: string; wal: string }>(
      modern
        ? 'SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS wal FROM pg_backup_start($1, true) AS lsn'
        : 'SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS wal FROM pg_start_backup($1, true, false) AS lsn',
      [label],
    );
    const startRow = start.rows[0] as { lsn: string; wal: string };
    ctx.log.info(`base backup started at ${startRow.lsn} (${startRow.wal})`);
    yield {
      name: DATA_ARTIFACT,
      stream: (await import('./pgdata-tar.js')).packDataDirectory(options.pgdata, ctx.signal),
      meta: { startLsn: startRow.lsn },
    };
    const stop = await client.query<{
      lsn: string;
      wal: string;
      labelfile: string;
      spcmapfile: string | null;
    }>(
      modern
        ? 'SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS wal, labelfile, spcmapfile FROM pg_backup_stop(true)'
        : 'SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS wal, labelfile, spcmapfile FROM pg_stop_backup(false, true)',
    );
    const stopRow = stop.rows[0] as {
      lsn: string;
      wal: string;
      labelfile: string;
      spcmapfile: string | null;
    };
    const timeline = Number.parseInt(startRow.wal.slice(0, 8), 16);
    const meta: { [key: string]: Json } = toWalMeta({
      startLsn: startRow.lsn,
      stopLsn: stopRow.lsn,
      timeline,
      startWal: startRow.wal,
      stopWal: stopRow.wal,
      stopTime: new Date().toISOString(),
      walPipeline: options.walPipeline,
      segmentBytes: facts.segmentBytes,
      serverVersion: facts.serverVersion,
    });
    ctx.log.info(
      `base backup stopped at ${stopRow.lsn} (${stopRow.wal}); it needs WAL ${startRow.wal} to ${stopRow.wal}`,
    );
    yield { name: LABEL_ARTIFACT, stream: Readable.from([Buffer.from(stopRow.labelfile)]), meta };
    if (stopRow.spcmapfile) {
      yield { name: TABLESPACE_MAP_ARTIFACT, stream: Readable.from([Buffer.from(stopRow.spcmapfile)]) };
    }
  } finally {
    // Ending the session also ends a backup left running by an error (non-exclusive mode).
    await client.end().catch(() => undefined);
  }
}
