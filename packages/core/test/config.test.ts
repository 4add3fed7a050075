// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests are about the config file's own ${VAR} syntax
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectConfig, loadConfig, type NexusConfig, NexusError, parseDuration } from '@nexus-backup/core';

const PIPELINE_KEYS = 'source, transforms, to, retention, schedule, check, drill';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;
let counter = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nexus-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeConfig(yaml: string): Promise<string> {
  const file = join(dir, `nexus-backup-${++counter}.yaml`);
  await writeFile(file, yaml);
  return file;
}

async function load(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<NexusConfig> {
  return loadConfig(await writeConfig(yaml), env);
}

/** The CONFIG error loading `yaml` gives, with the file's path replaced by FILE for readable assertions. */
async function configError(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const file = await writeConfig(yaml);
  try {
    await loadConfig(file, env);
  } catch (error) {
    expect(error).toBeInstanceOf(NexusError);
    expect((error as NexusError).code).toBe('CONFIG');
    expect((error as NexusError).exitCode).toBe(64);
    return (error as NexusError).message.replaceAll(file, 'FILE');
  }
  throw new Error('expected loadConfig to fail');
}

const MINIMAL_PIPELINE = `
pipelines:
  db:
    source: { use: postgres }
    to: [ ./backups ]
`;

describe('loadConfig reads the documented shape', () => {
  it('returns typed repositories, pipelines, notify and history, with paths made absolute', async () => {
    const config = await load(
      `
plugins: [ "@acme/nexus-backup-nfs", ./providers/my-source.js ]
repositories:
  local: /var/backups/nexus
  nearby: ./backups
  offsite: { url: "s3://b/p?region=eu-west-1", optional: true }
pipelines:
  database:
    source: { use: postgres, db: "\${DATABASE_URL}" }
    transforms: [ { use: gzip, level: 6 }, { use: aes } ]
    to: [ local, offsite ]
    retention: { keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: 12, keepYearly: 2, keepWithin: 2d }
    schedule: "0 2 * * *"
    check: { maxAge: 26h, minSize: 1024 }
  credentials.main:
    source: { use: credentials, dir: ./credentials }
    transforms: [ aes ]
    to: [ nearby, ../elsewhere, "sftp://backup@host:22/srv" ]
notify:
  - { url: "\${SLACK_WEBHOOK_URL}", on: [failure, warning] }
  - { url: "https://hc-ping.com/abc" }
history: { db: "\${DATABASE_URL}" }
`,
      {
        DATABASE_URL: 'postgres://app:s3cret@db:5432/app',
        SLACK_WEBHOOK_URL: 'https://hooks.slack.com/T/B/x',
      },
    );
    expect(config.baseDir).toBe(dir);
    expect(config.plugins).toEqual(['@acme/nexus-backup-nfs', join(dir, 'providers/my-source.js')]);
    expect(config.repositories).toEqual({
      local: { name: 'local', url: '/var/backups/nexus', optional: false, path: 'repositories.local' },
      nearby: { name: 'nearby', url: join(dir, 'backups'), optional: false, path: 'repositories.nearby' },
      offsite: {
        name: 'offsite',
        url: 's3://b/p?region=eu-west-1',
        optional: true,
        path: 'repositories.offsite',
      },
    });
    const database = config.pipelines.database!;
    expect(database).toEqual({
      name: 'database',
      path: 'pipelines.database',
      source: {
        use: 'postgres',
        options: { db: 'postgres://app:s3cret@db:5432/app' },
        path: 'pipelines.database.source',
      },
      transforms: [
        { use: 'gzip', options: { level: 6 }, path: 'pipelines.database.transforms[0]' },
        { use: 'aes', options: {}, path: 'pipelines.database.transforms[1]' },
      ],
      to: [config.repositories.local, config.repositories.offsite],
      retention: {
        keepLast: 3,
        keepDaily: 7,
        keepWeekly: 4,
        keepMonthly: 12,
        keepYearly: 2,
        keepWithin: parseDuration('2d'),
      },
      schedule: '0 2 * * *',
      check: { maxAgeMs: 26 * 3600_000, minSize: 1024 },
    });
    const credentials = config.pipelines['credentials.main']!;
    expect(credentials.transforms).toEqual([
      { use: 'aes', options: {}, path: 'pipelines."credentials.main".transforms[0]' },
    ]);
    expect(credentials.source.options).toEqual({ dir: './credentials' });
    expect(credentials.to).toEqual([
      config.repositories.nearby,
      { url: join(dir, '../elsewhere'), optional: false, path: 'pipelines."credentials.main".to[1]' },
      { url: 'sftp://backup@host:22/srv', optional: false, path: 'pipelines."credentials.main".to[2]' },
    ]);
    expect(config.notify).toEqual([
      {
        url: 'https://hooks.slack.com/T/B/x',
        on: ['warning', 'failure'],
        kind: 'webhook',
        path: 'notify[0]',
      },
      {
        url: 'https://hc-ping.com/abc',
        on: ['success', 'warning', 'failure'],
        kind: 'healthchecks',
        path: 'notify[1]',
      },
    ]);
    expect(config.history).toEqual({ db: 'postgres://app:s3cret@db:5432/app' });
  });

  it('accepts a config with only repositories, and leaves absent sections empty', async () => {
    const config = await load('repositories:\n  local: /srv/backups\n');
    expect(config).toMatchObject({ plugins: [], pipelines: {}, notify: [] });
    expect(config.history).toBeUndefined();
  });

  it('resolves ~/ against the home directory from the environment', async () => {
    const config = await load('repositories:\n  home: ~/backups\n', { HOME: '/home/ops' });
    expect(config.repositories.home?.url).toBe('/home/ops/backups');
  });

  it('accepts a single event for notify.on and an explicit kind', async () => {
    const config = await load(
      'notify:\n  - { url: "https://example.com/hook", on: success, kind: healthchecks }\n',
    );
    expect(config.notify[0]).toMatchObject({ on: ['success'], kind: 'healthchecks' });
  });

  it('accepts unlimited and numeric strings from ${VAR} in retention counts', async () => {
    const config = await load(
      `${MINIMAL_PIPELINE}    retention: { keepDaily: "\${KEEP_DAILY}", keepYearly: unlimited }\n`,
      { KEEP_DAILY: '14' },
    );
    expect(config.pipelines.db?.retention).toEqual({ keepDaily: 14, keepYearly: -1 });
  });
});

describe('${VAR} interpolation', () => {
  const hostValue = async (value: string, env: NodeJS.ProcessEnv) =>
    (
      await load(
        `${MINIMAL_PIPELINE.replace('{ use: postgres }', () => `{ use: postgres, host: "${value}" }`)}`,
        env,
      )
    ).pipelines.db?.source.options.host;

  it.each<[string, NodeJS.ProcessEnv, string]>([
    ['${HOST}', { HOST: 'db.internal' }, 'db.internal'],
    ['${HOST:-localhost}', {}, 'localhost'],
    ['${HOST:-localhost}', { HOST: '' }, 'localhost'],
    ['${HOST:-localhost}', { HOST: 'db.internal' }, 'db.internal'],
    ['${HOST:-}', {}, ''],
    ['${HOST}', { HOST: '' }, ''],
    ['${USER}@${HOST}:5432', { USER: 'app', HOST: 'db' }, 'app@db:5432'],
    ['$${HOST}', { HOST: 'db.internal' }, '${HOST}'],
    ['cost $5 and $HOST', {}, 'cost $5 and $HOST'],
    ['${URL:-http://x/?a=b}', {}, 'http://x/?a=b'],
  ])('%s with %j gives %j', async (value, env, expected) => {
    expect(await hostValue(value, env)).toBe(expected);
  });

  it('inserts values as plain strings: quotes, newlines and YAML syntax cannot change the structure', async () => {
    const tricky = 'a: b\n"quoted" - [x] #not a comment';
    expect(await hostValue('${TRICKY}', { TRICKY: tricky })).toBe(tricky);
  });

  it('does not interpolate keys', async () => {
    const config = await load(
      MINIMAL_PIPELINE.replace('{ use: postgres }', () => '{ use: postgres, "${X}": 1 }'),
      {
        X: 'y',
      },
    );
    expect(config.pipelines.db?.source.options).toEqual({ '${X}': 1 });
  });

  it('names the missing variable and the key path, never another value', async () => {
    const message = await configError(
      `${MINIMAL_PIPELINE.replace('{ use: postgres }', () => '{ use: postgres, db: "postgres://app:${DB_PASSWORD}@db/app" }')}`,
      { OTHER_SECRET: 'hunter2' },
    );
    expect(message).toBe(
      'pipelines.db.source.db: environment variable DB_PASSWORD is not set; set it, or give a default with ' +
        '${DB_PASSWORD:-default} (FILE:4:30)',
    );
  });

  it.each([
    ['${HOST', /"\$\{" without a closing "\}"/],
    ['${1HOST}', /"\$\{1HOST\}" is not a variable reference/],
    ['${HOST-x}', /"\$\{HOST-x\}" is not a variable reference/],
  ])('refuses the malformed reference %s', async (value, problem) => {
    const message = await configError(
      MINIMAL_PIPELINE.replace('{ use: postgres }', () => `{ use: postgres, host: "${value}" }`),
    );
    expect(message).toMatch(/^pipelines\.db\.source\.host: /);
    expect(message).toMatch(problem);
  });
});

describe('loadConfig errors say where and what to fix', () => {
  it('reports a missing file with its path', async () => {
    const missing = join(dir, 'nope.yaml');
    const error = await loadConfig(missing, {}).catch((caught: unknown) => caught as NexusError);
    expect(error).toMatchObject({ code: 'CONFIG', message: `config file ${missing} not found` });
  });

  it('reports a directory given as the config file', async () => {
    await mkdir(join(dir, 'a-dir'), { recursive: true });
    const error = await loadConfig(join(dir, 'a-dir'), {}).catch((caught: unknown) => caught as NexusError);
    expect(error).toMatchObject({ code: 'CONFIG', message: expect.stringContaining('is a directory') });
  });

  it('gives the line and column of a YAML syntax error', async () => {
    expect(await configError('repositories:\n  local: [ /a, /b\npipelines: {}\n')).toMatch(
      /^FILE:3:1: YAML syntax error: /,
    );
  });

  it('treats a duplicated key as a syntax error with its line', async () => {
    expect(await configError('repositories:\n  local: /a\n  local: /b\n')).toMatch(
      /^FILE:3:3: YAML syntax error: Map keys must be unique/,
    );
  });

  it.each<[string, string, string]>([
    [
      'an empty file',
      '',
      'the config file is empty; expected some of: plugins, repositories, pipelines, notify, history, recovery (FILE)',
    ],
    [
      'a list at the top',
      '- a\n',
      'the config file must be a mapping with some of: plugins, repositories, pipelines, notify, history, recovery; got a list (FILE:1:1)',
    ],
    [
      'a misspelled top-level key',
      'pipeline: {}\n',
      'pipeline: unknown key; did you mean pipelines? (FILE:1:1)',
    ],
    [
      'an unrelated top-level key',
      'repositories: {}\ndatabases: {}\n',
      'databases: unknown key; known keys: plugins, repositories, pipelines, notify, history, recovery (FILE:2:1)',
    ],
    [
      'a misspelled retention rule',
      `${MINIMAL_PIPELINE}    retention: { keepDaly: 7 }\n`,
      'pipelines.db.retention.keepDaly: unknown key; did you mean keepDaily? (FILE:6:18)',
    ],
    [
      'a transposed pipeline key',
      `${MINIMAL_PIPELINE}    shcedule: "0 2 * * *"\n`,
      'pipelines.db.shcedule: unknown key; did you mean schedule? (FILE:6:5)',
    ],
    [
      'a pipeline name that is not a folder name',
      'pipelines:\n  My DB:\n    source: postgres\n    to: ./b\n',
      'pipelines."My DB": a pipeline name must be lowercase letters, digits, ".", "_" or "-", starting with a ' +
        'letter or digit (it becomes a folder name in every repository) (FILE:2:3)',
    ],
    [
      'a pipeline without source',
      'pipelines:\n  db:\n    to: ./b\n',
      'pipelines.db.source: is required (FILE:2:3)',
    ],
    [
      'a pipeline without to',
      'pipelines:\n  db:\n    source: postgres\n',
      'pipelines.db.to: is required (FILE:2:3)',
    ],
    [
      'a source without use',
      'pipelines:\n  db:\n    source: { db: x }\n    to: ./b\n',
      'pipelines.db.source.use: is required (FILE:3:5)',
    ],
    [
      'a source that is a list',
      'pipelines:\n  db:\n    source: [postgres]\n    to: ./b\n',
      'pipelines.db.source: must be a mapping (key: value), got a list (FILE:3:5)',
    ],
    [
      'transforms that are not a list',
      'pipelines:\n  db:\n    source: postgres\n    transforms: { use: gzip }\n    to: ./b\n',
      'pipelines.db.transforms: must be a list ([a, b] or "- item" lines), got a mapping (FILE:4:5)',
    ],
    [
      'a transform with an empty use',
      'pipelines:\n  db:\n    source: postgres\n    transforms: [ { use: "" } ]\n    to: ./b\n',
      'pipelines.db.transforms[0].use: is empty; expected a string like postgres (FILE:4:21)',
    ],
    [
      'an empty to',
      'pipelines:\n  db:\n    source: postgres\n    to: []\n',
      'pipelines.db.to: is empty; name at least one repository (FILE:4:5)',
    ],
    [
      'a misspelled repository in to',
      'repositories:\n  offsite: s3://b/p\n  local: /a\npipelines:\n  db:\n    source: postgres\n    to: [local, ofsite]\n',
      'pipelines.db.to[1]: unknown repository "ofsite"; did you mean offsite? (known repositories: offsite, local; ' +
        'a directory is written ./ofsite) (FILE:7:17)',
    ],
    [
      'a repository name in to with no repositories defined',
      'pipelines:\n  db:\n    source: postgres\n    to: backups\n',
      'pipelines.db.to[0]: unknown repository "backups"; (no repositories are defined; a directory is written ' +
        './backups) (FILE:4:5)',
    ],
    [
      'a repository object with a misspelled key',
      'repositories:\n  offsite: { urll: s3://b/p }\n',
      'repositories.offsite.urll: unknown key; did you mean url? (FILE:2:14)',
    ],
    [
      'a repository object without url',
      'repositories:\n  offsite: { optional: true }\n',
      'repositories.offsite.url: is required (FILE:2:3)',
    ],
    [
      'a repository with optional not a boolean',
      'repositories:\n  offsite: { url: s3://b/p, optional: "yes" }\n',
      'repositories.offsite.optional: must be true or false, got a string (FILE:2:29)',
    ],
    [
      'a repository URL that does not parse',
      'repositories:\n  offsite: "s3://bucket:notaport/p"\n',
      'repositories.offsite: is not a valid URL; write e.g. s3://bucket/prefix?region=eu-west-1 (FILE:2:3)',
    ],
    [
      'a repository name with a slash',
      'repositories:\n  "a/b": /x\n',
      'repositories."a/b": a repository name must be letters, digits, ".", "_" or "-" (no "/") (FILE:2:3)',
    ],
    [
      'a repository that is a number',
      'repositories:\n  local: 5\n',
      'repositories.local: must be a mapping (key: value), got a number (FILE:2:3)',
    ],
    [
      'a negative retention count',
      `${MINIMAL_PIPELINE}    retention: { keepDaily: -2 }\n`,
      'pipelines.db.retention.keepDaily: must be a whole number >= 0, or -1 / unlimited to keep all, got -2 (FILE:6:18)',
    ],
    [
      'a bad retention duration',
      `${MINIMAL_PIPELINE}    retention: { keepWithin: 2x }\n`,
      'pipelines.db.retention.keepWithin: invalid duration "2x": unknown unit "x"; use a whole number and a unit',
    ],
    [
      'an empty retention',
      `${MINIMAL_PIPELINE}    retention: {}\n`,
      'pipelines.db.retention: keeps nothing, which would remove every backup; set at least one of keepLast,',
    ],
    [
      'a retention of only zeros',
      `${MINIMAL_PIPELINE}    retention: { keepLast: 0 }\n`,
      'pipelines.db.retention: keeps nothing, which would remove every backup',
    ],
    [
      'a check.maxAge in months',
      `${MINIMAL_PIPELINE}    check: { maxAge: 1m }\n`,
      'pipelines.db.check.maxAge: invalid duration "1m": years and months (y, m) have no fixed length here; use w, ' +
        'd, h, min or s (minutes are "min", e.g. 90min) (FILE:6:14)',
    ],
    [
      'a check.maxAge without unit',
      `${MINIMAL_PIPELINE}    check: { maxAge: 3600 }\n`,
      'pipelines.db.check.maxAge: must be a duration like 26h or 2d, got a number (FILE:6:14)',
    ],
    [
      'a negative check.minSize',
      `${MINIMAL_PIPELINE}    check: { minSize: -1 }\n`,
      'pipelines.db.check.minSize: must be a whole number >= 0, got -1 (FILE:6:14)',
    ],
    [
      'an unknown check key',
      `${MINIMAL_PIPELINE}    check: { maxAges: 1d }\n`,
      'pipelines.db.check.maxAges: unknown key; did you mean maxAge? (FILE:6:14)',
    ],
    [
      'a schedule that is not a string',
      `${MINIMAL_PIPELINE}    schedule: 5\n`,
      'pipelines.db.schedule: must be a string like "0 2 * * *", got a number (FILE:6:5)',
    ],
    [
      'notify as a mapping',
      'notify: { url: "https://x" }\n',
      'notify: must be a list ([a, b] or "- item" lines), got a mapping (FILE:1:1)',
    ],
    [
      'a notify entry without url',
      'notify:\n  - { on: [failure] }\n',
      'notify[0].url: is required (FILE:2:5)',
    ],
    [
      'a misspelled notify event',
      'notify:\n  - { url: "https://x", on: [failur] }\n',
      'notify[0].on[0]: must be one of success, warning, failure, got "failur" (FILE:2:30)',
    ],
    [
      'an empty notify event list',
      'notify:\n  - { url: "https://x", on: [] }\n',
      'notify[0].on: is empty; list some of success, warning, failure (FILE:2:25)',
    ],
    [
      'an unknown notify kind',
      'notify:\n  - { url: "https://x", kind: slack }\n',
      'notify[0].kind: must be one of webhook, healthchecks (FILE:2:25)',
    ],
    ['history without db', 'history: {}\n', 'history.db: is required (FILE:1:1)'],
    [
      'history with an unknown key',
      'history: { url: x }\n',
      'history.url: unknown key; known keys: db (FILE:1:12)',
    ],
    [
      'plugins as a string',
      'plugins: ./p.js\n',
      'plugins: must be a list ([a, b] or "- item" lines), got a string (FILE:1:1)',
    ],
    [
      'a plugin that is not a string',
      'plugins: [ 5 ]\n',
      'plugins[0]: must be a string like @acme/nexus-backup-nfs or ./providers/my-source.js, got a number (FILE:1:12)',
    ],
  ])('reports %s', async (_, yaml, expected) => {
    expect(await configError(yaml)).toContain(expected);
  });

  it('never echoes a string value, which may hold a secret after interpolation', async () => {
    const message = await configError('notify:\n  - { url: "${HOOK}" }\n', {
      HOOK: 'ftp://token-abc123@hooks',
    });
    expect(message).toBe('notify[0].url: must be an http:// or https:// URL (FILE:2:7)');
    expect(message).not.toContain('token-abc123');
  });

  it('reports an empty value produced by interpolation', async () => {
    expect(await configError('history: { db: "${DATABASE_URL:-}" }\n')).toBe(
      'history.db: is empty; expected a string like postgres://user@host:5432/db (FILE:1:12)',
    );
  });
});

describe('a config with several mistakes names every one of them at once', () => {
  it('reports an unknown key, an unset variable, a bad retention and a bad target in one error', async () => {
    const message = await configError(
      [
        'repositories:',
        '  local: ./backups',
        'pipelines:',
        '  db:',
        '    source: { use: postgres, db: "${MISSING_URL}" }',
        '    transfroms: [ gzip ]',
        '    to: [ locl ]',
        '    retention: { keepDaily: -3 }',
        '  files:',
        '    source: files',
        '    to: [ ./b ]',
        '    check: { maxAge: 90m }',
        '',
      ].join('\n'),
    );
    expect(message).toMatch(/^FILE has 5 problems:\n/);
    expect(message).toContain('pipelines.db.source.db: environment variable MISSING_URL is not set');
    expect(message).toContain('pipelines.db.transfroms: unknown key; did you mean transforms? (FILE:6:5)');
    expect(message).toContain('pipelines.db.to[0]: unknown repository "locl"; did you mean local?');
    expect(message).toContain('pipelines.db.retention.keepDaily:');
    expect(message).toContain('pipelines.files.check.maxAge:');
  });

  it('inspectConfig returns the problems and the parts that validated, without throwing', async () => {
    const file = await writeConfig(
      'pipelines:\n  good: { source: files, to: [ ./b ] }\n  bad: { to: [ ./b ], colour: red }\n',
    );
    const inspection = await inspectConfig(file, {});
    expect(inspection.problems).toEqual([
      `pipelines.bad.colour: unknown key; known keys: ${PIPELINE_KEYS} (${file}:3:23)`,
      `pipelines.bad.source: is required (${file}:3:3)`,
    ]);
    expect(Object.keys(inspection.config?.pipelines ?? {})).toEqual(['good']);
  });

  it('checks schedules with the checker it is given and says where the bad one is', async () => {
    const file = await writeConfig(
      'pipelines:\n  db: { source: files, to: [ ./b ], schedule: "99 * * * *" }\n',
    );
    const error = await loadConfig(
      file,
      {},
      {
        checkSchedule: (expression) => {
          throw new Error(`"${expression}" is not a cron expression`);
        },
      },
    ).catch((caught: unknown) => caught as NexusError);
    expect(error.code).toBe('CONFIG');
    expect(error.message).toBe(`pipelines.db.schedule: "99 * * * *" is not a cron expression (${file}:2:37)`);
  });
});

describe('transforms default to what the CLI does', () => {
  it('a pipeline without transforms: is gzipped, as `backup` is by default', async () => {
    const config = await load('pipelines:\n  files: { source: files, to: [ ./b ] }\n');
    expect(config.pipelines.files?.transforms.map((use) => use.use)).toEqual(['gzip']);
  });

  it('transforms: [] written explicitly stores the bytes as they are', async () => {
    const config = await load('pipelines:\n  files: { source: files, to: [ ./b ], transforms: [] }\n');
    expect(config.pipelines.files?.transforms).toEqual([]);
  });
});

describe('check.minSize takes units as --min-size does', () => {
  it('minSize: 10MB is ten million bytes; a plain number stays bytes', async () => {
    const config = await load(
      'pipelines:\n  a: { source: files, to: [ ./b ], check: { minSize: 10MB } }\n  b: { source: files, to: [ ./b ], check: { minSize: 2048 } }\n',
    );
    expect(config.pipelines.a?.check?.minSize).toBe(10_000_000);
    expect(config.pipelines.b?.check?.minSize).toBe(2048);
  });

  it('an unknown unit names the key and the accepted forms', async () => {
    expect(
      await configError('pipelines:\n  a: { source: files, to: [ ./b ], check: { minSize: 10XB } }\n'),
    ).toMatch(/^pipelines\.a\.check\.minSize: invalid size "10XB"; use bytes/);
  });
});
