import type { Destination, RunContext } from './contracts.js';
import type { NexusError } from './errors.js';
import type { RepositoryScan } from './repository.js';

/** What a mirror run takes: two repositories on any destinations. */
export interface MirrorOptions {
  /** The repository mirrored from, usually a local folder. */
  source: Destination;
  /** The repository mirrored into, e.g. an sftp:// or s3:// destination. */
  target: Destination;
  /** Remove backups from the target that the source no longer has (refused when the source has none). */
  delete?: boolean;
  /** Decide and report, change nothing. */
  dryRun?: boolean;
  /**
   * `stream` (default) copies through nexus-backup between any two destinations; any other name is a
   * method the target destination offers in `mirrorMethods` (the sftp destination: `rsync`).
   */
  via?: string;
  /** The source repository as a local folder, for methods that read files directly; default: its location when absolute. */
  sourceDir?: string;
  ctx: RunContext;
}

/**
 * A faster way a destination offers to mirror into itself (`--via rsync`). Core has already read the
 * source with its one manifest reader and applied the empty-source guard; the method copies artifacts
 * before manifests, checks sizes against `sourceScan`'s manifests, and reports like the stream path.
 */
export type MirrorMethod = (request: MirrorRequest) => Promise<MirrorReport>;

export interface MirrorRequest extends MirrorOptions {
  via: string;
  /** The source as core's repository scan sees it (complete, damaged, unreadable backups and leftovers). */
  sourceScan: RepositoryScan;
}

export interface MirroredBackup {
  /** `<pipeline>/<backup-id>` */
  backup: string;
  files: number;
  bytes: number;
}

export interface MirrorReport {
  /** The method used: `stream` or a destination's own (`rsync`). */
  via: string;
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

export function emptyMirrorReport(via: string, dryRun: boolean): MirrorReport {
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
