import { describeType, expectBoolean, expectList, expectMap, expectString } from './expect.js';
import { isPlainObject } from './interpolate.js';
import { ConfigKeyError, formatKeyPath, type KeyPath } from './key-path.js';
import { checkLocation, looksLikePath, resolveLocation } from './locations.js';
import { validatePipeline } from './pipeline.js';
import type { ConfigProblems } from './problems.js';
import { validateRecovery } from './recovery.js';
import {
  type HistoryConfig,
  type NexusConfig,
  NOTIFY_EVENTS,
  NOTIFY_KINDS,
  type NotifyConfig,
  type NotifyEvent,
  type NotifyKind,
  type PipelineConfig,
  type RepositoryConfig,
} from './types.js';

const TOP_LEVEL_KEYS = ['plugins', 'repositories', 'pipelines', 'notify', 'history', 'recovery'];
const REPOSITORY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const PIPELINE_NAME = /^[a-z0-9][a-z0-9._-]*$/;

export interface ValidateContext {
  file: string;
  baseDir: string;
  home?: string | undefined;
  /** Every problem is recorded here; parts with problems are left out of the returned config. */
  problems: ConfigProblems;
  checkSchedule?: ((expression: string) => void) | undefined;
}

/** Checks the whole shape of an interpolated config and turns it into typed objects. */
export function validateConfig(raw: unknown, context: ValidateContext): NexusConfig {
  const { problems } = context;
  if (raw === null || raw === undefined) {
    throw new ConfigKeyError([], `the config file is empty; expected some of: ${TOP_LEVEL_KEYS.join(', ')}`);
  }
  if (!isPlainObject(raw)) {
    const keys = TOP_LEVEL_KEYS.join(', ');
    throw new ConfigKeyError(
      [],
      `the config file must be a mapping with some of: ${keys}; got ${describeType(raw)}`,
    );
  }
  const top = expectMap(raw, [], TOP_LEVEL_KEYS, [], problems);
  const resolveAt = (text: string) => resolveLocation(text, context.baseDir, context.home);
  const repositories = validateRepositories(top.repositories, resolveAt, problems);

  const pipelines: Record<string, PipelineConfig> = {};
  const pipelineMap = problems.attempt(() => expectMap(top.pipelines ?? {}, ['pipelines'], 'any')) ?? {};
  for (const [name, value] of Object.entries(pipelineMap)) {
    if (!PIPELINE_NAME.test(name)) {
      problems.add(
        new ConfigKeyError(
          ['pipelines', name],
          'a pipeline name must be lowercase letters, digits, ".", "_" or "-", starting with a letter or digit ' +
            '(it becomes a folder name in every repository)',
        ),
      );
      continue;
    }
    const pipeline = validatePipeline(name, value, {
      repositories,
      resolveLocation: resolveAt,
      problems,
      checkSchedule: context.checkSchedule,
    });
    if (pipeline) pipelines[name] = pipeline;
  }

  const each = <T>(value: unknown, key: string, validate: (item: unknown, path: KeyPath) => T): T[] =>
    (problems.attempt(() => expectList(value, [key])) ?? []).flatMap((item, index) => {
      const checked = problems.attempt(() => validate(item, [key, index]));
      return checked === undefined ? [] : [checked];
    });
  const config: NexusConfig = {
    file: context.file,
    baseDir: context.baseDir,
    plugins: each(top.plugins, 'plugins', (value, path) => {
      const plugin = expectString(value, path, '@acme/nexus-backup-nfs or ./providers/my-source.js');
      return looksLikePath(plugin) && !plugin.startsWith('@') ? resolveAt(plugin) : plugin;
    }),
    repositories,
    pipelines,
    notify: each(top.notify, 'notify', validateNotify),
  };
  if (top.history !== undefined && top.history !== null) {
    const history = problems.attempt(() => validateHistory(top.history));
    if (history) config.history = history;
  }
  if (top.recovery !== undefined && top.recovery !== null) {
    const recovery = problems.attempt(() =>
      validateRecovery(top.recovery, { pipelines, resolveLocation: resolveAt, baseDir: context.baseDir }),
    );
    if (recovery) config.recovery = recovery;
  }
  return config;
}

function validateRepositories(
  value: unknown,
  resolveAt: (text: string) => string,
  problems: ConfigProblems,
): Record<string, RepositoryConfig> {
  const repositories: Record<string, RepositoryConfig> = {};
  if (value === undefined || value === null) return repositories;
  const entries = problems.attempt(() => expectMap(value, ['repositories'], 'any')) ?? {};
  for (const [name, entry] of Object.entries(entries)) {
    const repository = problems.attempt(() => validateRepository(name, entry, resolveAt));
    if (repository) repositories[name] = repository;
  }
  return repositories;
}

function validateRepository(
  name: string,
  entry: unknown,
  resolveAt: (text: string) => string,
): RepositoryConfig {
  const path: KeyPath = ['repositories', name];
  if (!REPOSITORY_NAME.test(name)) {
    throw new ConfigKeyError(path, 'a repository name must be letters, digits, ".", "_" or "-" (no "/")');
  }
  const example = '/var/backups/nexus or s3://bucket/prefix?region=eu-west-1';
  let location: string;
  let optional = false;
  if (typeof entry === 'string') {
    location = expectString(entry, path, example);
  } else {
    const object = expectMap(entry, path, ['url', 'optional'], ['url']);
    location = expectString(object.url, [...path, 'url'], example);
    if (object.optional !== undefined) optional = expectBoolean(object.optional, [...path, 'optional']);
  }
  return {
    name,
    url: checkLocation(location, resolveAt, path),
    optional,
    path: formatKeyPath(path),
  };
}

function validateNotify(value: unknown, path: KeyPath): NotifyConfig {
  const entry = expectMap(value, path, ['url', 'on', 'kind'], ['url']);
  const url = expectString(entry.url, [...path, 'url'], 'https://hooks.example.com/...');
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
    throw new ConfigKeyError([...path, 'url'], 'must be an http:// or https:// URL');
  }
  let kind: NotifyKind =
    parsed.hostname === 'hc-ping.com' || parsed.hostname.endsWith('.hc-ping.com')
      ? 'healthchecks'
      : 'webhook';
  if (entry.kind !== undefined) {
    const given = entry.kind;
    if (typeof given !== 'string' || !NOTIFY_KINDS.includes(given as NotifyKind)) {
      throw new ConfigKeyError([...path, 'kind'], `must be one of ${NOTIFY_KINDS.join(', ')}`);
    }
    kind = given as NotifyKind;
  }
  const events = expectList(entry.on, [...path, 'on'], { single: true }).map((event, index) => {
    if (typeof event !== 'string' || !NOTIFY_EVENTS.includes(event as NotifyEvent)) {
      const shown = typeof event === 'string' ? `"${event}"` : 'a non-string';
      throw new ConfigKeyError(
        [...path, 'on', index],
        `must be one of ${NOTIFY_EVENTS.join(', ')}, got ${shown}`,
      );
    }
    return event as NotifyEvent;
  });
  const defaults: NotifyEvent[] = kind === 'healthchecks' ? [...NOTIFY_EVENTS] : ['warning', 'failure'];
  const on =
    entry.on === undefined || entry.on === null ? defaults : NOTIFY_EVENTS.filter((e) => events.includes(e));
  if (on.length === 0)
    throw new ConfigKeyError([...path, 'on'], `is empty; list some of ${NOTIFY_EVENTS.join(', ')}`);
  return { url, on, kind, path: formatKeyPath(path) };
}

function validateHistory(value: unknown): HistoryConfig {
  const history = expectMap(value, ['history'], ['db'], ['db']);
  return { db: expectString(history.db, ['history', 'db'], 'postgres://user@host:5432/db') };
}
