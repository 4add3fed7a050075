import type { RetentionPolicy } from '../retention.js';
import type { RecoveryConfig } from './recovery.js';

/* The shapes of a validated config, apart from the loader so the validators can use them without a cycle. */

/** A validated `nexus-backup.yaml`. Paths are absolute; URLs are as written (after `${VAR}` interpolation). */
export interface NexusConfig {
  /** Absolute path of the config file. */
  file: string;
  /** The config file's directory: relative paths in provider options (e.g. `dir: ./credentials`) mean this. */
  baseDir: string;
  /** In-house provider modules: package names as written, paths made absolute. */
  plugins: string[];
  repositories: Record<string, RepositoryConfig>;
  pipelines: Record<string, PipelineConfig>;
  notify: NotifyConfig[];
  history?: HistoryConfig;
  /** `recovery:`: the plan `nexus-backup recover` runs. */
  recovery?: RecoveryConfig;
}

export interface RepositoryConfig {
  /** The name under `repositories:`; absent for a URL or path written directly in a pipeline's `to`. */
  name?: string;
  /** A URL, or an absolute path. */
  url: string;
  /** A failing optional repository makes a run finish with warnings instead of failing. */
  optional: boolean;
  /** Config key path, for messages: `repositories.offsite` or `pipelines.db.to[1]`. */
  path: string;
}

/** A provider named by `use`, with its options still unchecked: resolveOptions validates them later. */
export interface ProviderUse {
  use: string;
  options: Record<string, unknown>;
  /** Config key path, for messages: `pipelines.database.source`, `pipelines.database.transforms[0]`. */
  path: string;
}

export interface PipelineConfig {
  /** Also the folder name in every repository: `[a-z0-9][a-z0-9._-]*`. */
  name: string;
  source: ProviderUse;
  transforms: ProviderUse[];
  /** True when `transforms:` was not written: the source's preferred compressor may replace the default gzip. */
  transformsDefaulted?: boolean;
  to: RepositoryConfig[];
  retention?: RetentionPolicy;
  /** A cron expression, checked by the scheduler. */
  schedule?: string;
  check?: CheckConfig;
  /** Restore drills of this pipeline's backups (`nexus-backup drill`, and `schedule` with `drill.schedule`). */
  drill?: DrillConfig;
  path: string;
}

export interface DrillConfig {
  /** SQL queries (postgres) that must each return true in the restored copy. */
  checks: string[];
  /** A cron expression: `schedule` drills the latest backup then. */
  schedule?: string;
  /** The server to create the scratch database on (a URL, a secret); default: the source's `db`. */
  db?: string;
}

export interface CheckConfig {
  /** The newest backup must be younger than this. */
  maxAgeMs?: number;
  /** The newest backup must store at least this many bytes. */
  minSize?: number;
}

export const NOTIFY_EVENTS = ['success', 'warning', 'failure'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];
export const NOTIFY_KINDS = ['webhook', 'healthchecks'] as const;
export type NotifyKind = (typeof NOTIFY_KINDS)[number];

export interface NotifyConfig {
  /** Usually a secret (a webhook token): never log it. */
  url: string;
  /** Default: warning and failure for webhooks; every event for healthchecks (it expects success pings). */
  on: NotifyEvent[];
  /** Default: healthchecks for hc-ping.com URLs, webhook otherwise. */
  kind: NotifyKind;
  path: string;
}

export interface HistoryConfig {
  /** A PostgreSQL URL (a secret: never log it). */
  db: string;
}
