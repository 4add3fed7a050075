import { parseDurationMs } from '../duration.js';
import { atPath, expectBoolean, expectInteger, expectList, expectMap, expectString } from './expect.js';
import { ConfigKeyError, formatKeyPath, type KeyPath } from './key-path.js';
import type { PipelineConfig } from './types.js';

/** `recovery:` in the config: what `nexus-backup recover` restores, and how it stops, starts and checks the service. */
export interface RecoveryConfig {
  stop: string[];
  start: string[];
  restore: RecoveryItemConfig[];
  checks: HealthCheckConfig[];
  /** Per command and per health check: how long one may take in all, retries included. */
  timeoutMs: number;
  /** Pause between two tries of a failing health check. */
  intervalMs: number;
  /** Warn when the chosen backups are further apart than this. */
  maxSpreadMs: number;
  /** After a failed health check, put the old state back and restart (default true). */
  rollbackOnFailure: boolean;
  /** Where the journal of a recovery in progress and of past recoveries is kept (default: `.nexus-recovery` beside the config). */
  journalDir: string;
  path: string;
}

export interface RecoveryItemConfig {
  pipeline: string;
  /** Restore options of the pipeline's source that name the live target (`db`, `toDir`). */
  target: Record<string, unknown>;
  path: string;
}

export type HealthCheckConfig =
  | { kind: 'http'; url: string; status: number; path: string }
  | { kind: 'sql'; sql: string; pipeline?: string; path: string }
  | { kind: 'command'; command: string; path: string };

const RECOVERY_KEYS = [
  'stop',
  'start',
  'restore',
  'checks',
  'timeout',
  'interval',
  'maxSpread',
  'rollbackOnFailure',
  'journal',
];
const ITEM_KEYS = ['pipeline', 'toDir', 'db'];

export interface RecoveryContext {
  pipelines: Record<string, PipelineConfig>;
  resolveLocation: (text: string) => string;
  baseDir: string;
}

export function validateRecovery(value: unknown, context: RecoveryContext): RecoveryConfig {
  const path: KeyPath = ['recovery'];
  const recovery = expectMap(value, path, RECOVERY_KEYS, ['restore']);
  const commands = (key: string) =>
    expectList(recovery[key], [...path, key], { single: true }).map((entry, index) =>
      expectString(entry, [...path, key, index], '"docker compose down"'),
    );
  const duration = (key: string, fallback: string) =>
    atPath([...path, key], () =>
      parseDurationMs(
        recovery[key] === undefined ? fallback : expectString(recovery[key], [...path, key], '60s'),
      ),
    );
  const restore = expectList(recovery.restore, [...path, 'restore']).map((entry, index) =>
    validateItem(entry, [...path, 'restore', index], context),
  );
  if (restore.length === 0) throw new ConfigKeyError([...path, 'restore'], 'lists nothing to restore');
  const seen = new Set<string>();
  for (const item of restore) {
    if (seen.has(item.pipeline))
      throw new ConfigKeyError([...path, 'restore'], `restores pipeline ${item.pipeline} twice`);
    seen.add(item.pipeline);
  }
  return {
    stop: commands('stop'),
    start: commands('start'),
    restore,
    checks: expectList(recovery.checks, [...path, 'checks']).map((entry, index) =>
      validateCheck(entry, [...path, 'checks', index], seen),
    ),
    timeoutMs: duration('timeout', '60s'),
    intervalMs: duration('interval', '2s'),
    maxSpreadMs: duration('maxSpread', '6h'),
    rollbackOnFailure:
      recovery.rollbackOnFailure === undefined
        ? true
        : expectBoolean(recovery.rollbackOnFailure, [...path, 'rollbackOnFailure']),
    journalDir:
      recovery.journal === undefined
        ? context.resolveLocation('./.nexus-recovery')
        : context.resolveLocation(expectString(recovery.journal, [...path, 'journal'], './.nexus-recovery')),
    path: formatKeyPath(path),
  };
}

function validateItem(value: unknown, path: KeyPath, context: RecoveryContext): RecoveryItemConfig {
  const item = expectMap(value, path, ITEM_KEYS, ['pipeline']);
  const pipeline = expectString(item.pipeline, [...path, 'pipeline'], 'database');
  if (!context.pipelines[pipeline]) {
    const known = Object.keys(context.pipelines).join(', ') || '(none)';
    throw new ConfigKeyError([...path, 'pipeline'], `names no pipeline of this config; pipelines: ${known}`);
  }
  const target: Record<string, unknown> = {};
  if (item.toDir !== undefined)
    target.toDir = context.resolveLocation(expectString(item.toDir, [...path, 'toDir'], './credentials'));
  if (item.db !== undefined) target.db = expectString(item.db, [...path, 'db'], '${DATABASE_URL}');
  return { pipeline, target, path: formatKeyPath(path) };
}

function validateCheck(value: unknown, path: KeyPath, pipelines: Set<string>): HealthCheckConfig {
  const check = expectMap(value, path, ['http', 'status', 'sql', 'pipeline', 'command']);
  const kinds = ['http', 'sql', 'command'].filter((key) => check[key] !== undefined);
  if (kinds.length !== 1) throw new ConfigKeyError(path, 'must have exactly one of http, sql or command');
  const where = formatKeyPath(path);
  if (check.http !== undefined) {
    const url = expectString(check.http, [...path, 'http'], 'http://localhost:3000/health');
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
      throw new ConfigKeyError([...path, 'http'], 'must be an http:// or https:// URL');
    const status = check.status === undefined ? 200 : expectInteger(check.status, [...path, 'status'], 100);
    return { kind: 'http', url, status, path: where };
  }
  if (check.sql !== undefined) {
    const sql = expectString(check.sql, [...path, 'sql'], '"select 1"');
    if (check.pipeline === undefined) return { kind: 'sql', sql, path: where };
    const pipeline = expectString(check.pipeline, [...path, 'pipeline'], 'database');
    if (!pipelines.has(pipeline))
      throw new ConfigKeyError([...path, 'pipeline'], 'must name a pipeline listed under recovery.restore');
    return { kind: 'sql', sql, pipeline, path: where };
  }
  return {
    kind: 'command',
    command: expectString(check.command, [...path, 'command'], '"docker compose ps"'),
    path: where,
  };
}
