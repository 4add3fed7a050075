import { type Destination, NexusError, type RunContext } from '@nexus-backup/core';

/* What a mirror run takes and reports, shared by the streaming path (mirror.ts) and the rsync one (mirror-rsync.ts). */

export interface MirrorOptions {
  /** The repository mirrored from, usually a local folder. */
  source: Destination;
  /** The repository mirrored to, usually an sftp:// destination. */
  target: Destination;
  /** Remove backups from the target that the source no longer has (refused when the source has none). */
  delete?: boolean;
  /** Decide and report, change nothing. */
  dryRun?: boolean;
  /** `sftp` (default) streams through the destinations; `rsync` runs the system rsync over ssh. */
  via?: 'sftp' | 'rsync';
  /** For `via: 'rsync'`: the source repository folder; default: `source.location` when it is an absolute path. */
  sourceDir?: string;
  ctx: RunContext;
}

export interface MirroredBackup {
  /** `<pipeline>/<backup-id>` */
  backup: string;
  files: number;
  bytes: number;
}

export interface MirrorReport {
  via: 'sftp' | 'rsync';
  dryRun: boolean;
  /** Backups copied (or, on a dry run, that would be). */
  copied: MirroredBackup[];
  /** Backups already identical on the target. */
  unchanged: string[];
  /** Backups removed from the target (or that would be). */
  deleted: string[];
  /** Source folders left alone, with why (no manifest yet, unreadable manifest). */
  skipped: { backup: string; reason: string }[];
  /** Backups that could not be copied (e.g. a source artifact does not match its manifest). */
  failed: { backup: string; error: NexusError }[];
  bytesCopied: number;
  /** One human-readable line per fact, for the CLI. */
  lines: string[];
}

export function emptyReport(via: MirrorReport['via'], dryRun: boolean): MirrorReport {
  return {
    via,
    dryRun,
    copied: [],
    unchanged: [],
    deleted: [],
    skipped: [],
    failed: [],
    bytesCopied: 0,
    lines: [],
  };
}

/** The empty-source guard: a mounted-but-empty disk must never wipe the remote copy. */
export function refuseDeleteFromEmptySource(source: Destination, completeBackups: number): void {
  if (completeBackups > 0) return;
  throw new NexusError(
    'POLICY',
    `refusing to mirror with --delete: ${source.location} lists no complete backups, so every remote backup would be deleted`,
    {
      hint: 'check that the backup disk is mounted and the path is right; run without --delete to copy only',
    },
  );
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
