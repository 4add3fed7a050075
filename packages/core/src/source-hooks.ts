import type { Json } from './contracts.js';
import type { BackupEntry } from './repository.js';

/**
 * What a source adds to `verify` and `check` for data its backups depend on outside their backup
 * folders (pgbase: the archived WAL). The CLI calls these hooks without knowing the provider.
 */

/** One checked set of such data, e.g. one WAL pipeline's archive continuity. */
export interface SourceDataCheck {
  /** The pipeline (folder) the data lives in, e.g. `wal`. */
  pipeline: string;
  ok: boolean;
  /** Human lines: what was checked, and each problem naming what is missing. */
  lines: string[];
  details: Json;
}

/** A problem `check` reports and notifies like its own (`stale`: too old; `missing`: nothing there). */
export interface SourceCheckProblem {
  pipeline: string;
  kind: 'stale' | 'missing';
  message: string;
}

/** One Prometheus gauge sample; samples of one name share `help`. */
export interface SourceCheckMetric {
  name: string;
  help: string;
  labels: Record<string, string>;
  value: number;
}

export interface SourceCheckResult {
  problems: SourceCheckProblem[];
  metrics: SourceCheckMetric[];
  /** `ok` lines for a passing check (printed unless --quiet). */
  lines: string[];
}

/**
 * The backup `restore` should use for the given target options instead of the one the selector named
 * (pgbase: the newest base backup that ended before `--target-time`). `pinned` is true for
 * `PIPELINE@ID`: the operator chose one backup, so the hook may only refuse it, never swap it.
 */
export interface RestoreChoice {
  backup: BackupEntry;
  /** Why another backup than the newest was taken; shown to the operator. */
  note?: string;
}
