import { randomBytes } from 'node:crypto';
import { appendFile, chmod, mkdir, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { text } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { NexusError, type RestoreArtifact, type RestoreReport, type RunContext } from '@nexus-backup/core';
import { DATA_ARTIFACT, LABEL_ARTIFACT, readWalMeta, TABLESPACE_MAP_ARTIFACT } from './base-info.js';
import { lsnValue } from './choose-base.js';

export interface BaseRestoreTarget {
  toPgdata: string;
  targetTime?: string;
  targetLsn?: string;
  targetName?: string;
  targetXid?: string;
  targetTimeline?: string;
  targetAction: string;
  from?: string;
  walFrom?: string;
  walPipeline?: string;
  walCommand: string;
  walConfig?: string;
  walPassphraseFile?: string;
  walPrefetch?: number;
}

/**
 * Writes a data directory from a base backup, ready for PostgreSQL to replay archived WAL: the files,
 * `backup_label`, `recovery.signal`, and recovery settings in `postgresql.auto.conf` whose
 * `restore_command` runs `wal fetch` on the same repository. Everything is staged in a sibling
 * folder and renamed into place at the end, so a failure leaves the target as it was.
 */
export async function restoreBase(
  ctx: RunContext,
  artifacts: AsyncIterable<RestoreArtifact>,
  target: BaseRestoreTarget,
): Promise<RestoreReport> {
  const pgdata = resolve(target.toPgdata);
  const selectors = recoveryTarget(target);
  await requireEmptyTarget(pgdata);
  const staging = join(
    dirname(pgdata),
    `.${basename(pgdata)}.nexus-restore-${randomBytes(4).toString('hex')}`,
  );
  await mkdir(staging, { mode: 0o700 });
  try {
    let walPipeline: string | undefined;
    let stopTime: string | undefined;
    let stopLsn: string | undefined;
    for await (const artifact of artifacts) {
      if (artifact.name === DATA_ARTIFACT) {
        const { Unpack } = await import('tar');
        await pipeline(artifact.stream, new Unpack({ cwd: staging, strict: true }), { signal: ctx.signal });
      } else if (artifact.name === LABEL_ARTIFACT || artifact.name === TABLESPACE_MAP_ARTIFACT) {
        await writeFile(join(staging, artifact.name), await text(artifact.stream), { mode: 0o600 });
        const wal = readWalMeta(artifact.meta);
        walPipeline ??= wal?.walPipeline;
        stopTime ??= wal?.stopTime;
        stopLsn ??= wal?.stopLsn;
      } else {
        artifact.stream.resume();
      }
    }
    // Recovery only moves forward from where the backup ended: an earlier target cannot be reached.
    const endedAfter =
      target.targetTime && stopTime && Date.parse(target.targetTime) < Date.parse(stopTime)
        ? `ended at ${stopTime}, after --target-time ${target.targetTime}`
        : target.targetLsn && stopLsn && lsnValue(target.targetLsn) < lsnValue(stopLsn)
          ? `ended at LSN ${stopLsn}, after --target-lsn ${target.targetLsn}`
          : undefined;
    if (endedAfter) {
      throw new NexusError('TARGET', `this base backup ${endedAfter}`, {
        provider: 'pgbase',
        hint: 'restore an older base backup: name the pipeline without @ID (e.g. `restore base`) and the newest one that fits is picked',
      });
    }
    await mkdir(join(staging, 'pg_wal', 'archive_status'), { recursive: true, mode: 0o700 });
    const restoreCommand = buildRestoreCommand(target, walPipeline ?? 'wal');
    await writeFile(join(staging, 'recovery.signal'), '', { mode: 0o600 });
    const settings = [`restore_command = ${confQuote(restoreCommand)}`, ...selectors];
    await appendFile(
      join(staging, 'postgresql.auto.conf'),
      `\n# written by nexus-backup restore ${new Date().toISOString()}\n${settings.join('\n')}\n`,
      { mode: 0o600 },
    );
    await chmod(staging, 0o700);
    await rmdir(pgdata).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await rename(staging, pgdata);
    return {
      lines: [
        `wrote ${pgdata} with recovery.signal and, in postgresql.auto.conf:`,
        ...settings.map((line) => `  ${line}`),
        "next: make the folder owned by the server's user and start PostgreSQL on it; it replays archived WAL to the target:",
        `  chown -R postgres:postgres ${shellQuote(pgdata)} && sudo -u postgres pg_ctl -D ${shellQuote(pgdata)} start`,
        'mind archive_command in the restored postgresql.conf: a promoted copy archives its new timeline into the same WAL pipeline',
      ],
      details: { pgdata, restoreCommand, settings },
    };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

async function requireEmptyTarget(pgdata: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(pgdata);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new NexusError('TARGET', `cannot use ${pgdata}: ${(error as Error).message}`, {
      provider: 'pgbase',
    });
  }
  if (entries.length > 0) {
    throw new NexusError('TARGET', `${pgdata} is not empty`, {
      provider: 'pgbase',
      hint: 'restore into a new or empty folder; stop and move away the old data directory first',
    });
  }
}

/** recovery_target_* settings; at most one selector, none means replay to the end of the archive. */
function recoveryTarget(target: BaseRestoreTarget): string[] {
  const selectors = (
    [
      ['recovery_target_time', target.targetTime],
      ['recovery_target_lsn', target.targetLsn],
      ['recovery_target_name', target.targetName],
      ['recovery_target_xid', target.targetXid],
    ] as const
  ).filter(([, value]) => value !== undefined && value !== '' && value !== 'latest');
  if (selectors.length > 1) {
    throw new NexusError(
      'USAGE',
      'give at most one of --target-time, --target-lsn, --target-name, --target-xid',
      {
        provider: 'pgbase',
      },
    );
  }
  if (target.targetTime && target.targetTime !== 'latest' && Number.isNaN(Date.parse(target.targetTime))) {
    throw new NexusError('USAGE', `--target-time "${target.targetTime}" is not a time`, {
      provider: 'pgbase',
      hint: "write it with a zone, e.g. '2026-12-06 14:05:00+00'",
    });
  }
  const lines = selectors.map(([name, value]) => `${name} = ${confQuote(value as string)}`);
  if (selectors.length > 0) lines.push(`recovery_target_action = ${confQuote(target.targetAction)}`);
  if (target.targetTimeline) lines.push(`recovery_target_timeline = ${confQuote(target.targetTimeline)}`);
  return lines;
}

function buildRestoreCommand(target: BaseRestoreTarget, walPipeline: string): string {
  const from = target.walFrom ?? target.from;
  if (!from) {
    throw new NexusError('USAGE', 'the restore_command needs the WAL repository', {
      provider: 'pgbase',
      hint: 'pass --wal-from <repository>',
    });
  }
  const words = [target.walCommand];
  if (target.walConfig) words.push('--config', resolve(target.walConfig));
  if (target.walPassphraseFile) words.push('--passphrase-file', resolve(target.walPassphraseFile));
  words.push(
    'wal',
    'fetch',
    '%f',
    '%p',
    '--from',
    absoluteLocation(from),
    '--pipeline',
    target.walPipeline ?? walPipeline,
  );
  if (target.walPrefetch) words.push('--prefetch', String(target.walPrefetch));
  return words.map((word, index) => (index === 0 ? word : shellQuote(word))).join(' ');
}

/** restore_command runs in the data directory: a relative repository path must become absolute. */
function absoluteLocation(location: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location) || isAbsolute(location)) return location;
  return location.startsWith('.') || location.includes('/') ? resolve(location) : location;
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function confQuote(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
