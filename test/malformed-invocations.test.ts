import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';

/**
 * Malformed invocations against the real binary: each gets one `error:` line naming what to fix and
 * the documented exit code (64 usage or config, 2 failed or damaged, 1 warnings), never a stack trace
 * and never `warning:` for a fatal error.
 */

let work: string;
const repo = () => join(work, 'repo');

/** `check` with a webhook URL on the command line, where a secret in it must be refused. */
const checkNotifying = (url: string) => ['check', '--from', repo(), '--max-age', '1h', '--notify', url];
const damaged = () => join(work, 'damaged');
const unreadable = () => join(work, 'unreadable');
let unreadableId = '';
/** A server that is certainly not listening: checks that must fail before connecting are proven so. */
const CLOSED_DB = 'postgresql://nobody@127.0.0.1:1/none';

beforeAll(async () => {
  work = await tempDir('malformed');
  await mkdir(join(work, 'src'));
  await writeFile(join(work, 'src', 'a.txt'), 'hello\n');
  for (const target of [repo(), damaged(), unreadable()]) {
    const made = await runCli(['backup', 'files', 'src', '--to', target], { cwd: work });
    expect(made.code, made.stderr).toBe(0);
  }
  // A manifest naming a source no provider has: damaged data, not a usage mistake.
  const listed = await runCli(['list', '--from', damaged(), '--json'], { cwd: work });
  const [backup] = JSON.parse(listed.stdout).backups as { pipeline: string; id: string }[];
  const manifest = join(damaged(), backup?.pipeline ?? '', backup?.id ?? '', 'manifest.json');
  await writeFile(
    manifest,
    (await readFile(manifest, 'utf8')).replace('"provider": "files"', '"provider": "nosuch"'),
  );
  // A manifest that is not JSON at all: restoring that backup by its id is damaged data too.
  const other = await runCli(['list', '--from', unreadable(), '--json'], { cwd: work });
  unreadableId = (JSON.parse(other.stdout).backups as { id: string }[])[0]?.id ?? '';
  await writeFile(
    join(unreadable(), 'files', unreadableId, 'manifest.json'),
    '{ "format": "nexus-backup-manif',
  );

  await writeFile(
    join(work, 'three-mistakes.yaml'),
    [
      'repositories:',
      '  local: ./repo',
      'pipelines:',
      '  config:',
      '    source: { use: files, paths: [ src ], colour: red }',
      '    transfroms: [ gzip ]',
      '    to: [ locl ]',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(work, 'bad-cron.yaml'),
    'pipelines:\n  config:\n    source: { use: files, paths: [ src ] }\n    to: [ ./repo ]\n    schedule: "99 * * * *"\n',
  );
  await writeFile(
    join(work, 'good.yaml'),
    'pipelines:\n  config:\n    source: { use: files, paths: [ src ] }\n    to: [ ./repo ]\n    schedule: "0 2 * * *"\n',
  );
  await writeFile(
    join(work, 'failing.yaml'),
    'pipelines:\n  config:\n    source: { use: files, paths: [ no-such-file ] }\n    to: [ ./repo ]\n',
  );
  await mkdir(join(work, 'empty-dir'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

interface Row {
  args: () => string[];
  code: 0 | 1 | 2 | 64;
  /** What the error (or output) must say. */
  says: RegExp;
  /** What it must not say: the misleading message it gave before. */
  notSays?: RegExp;
  env?: NodeJS.ProcessEnv;
  cwd?: () => string;
  /** The exit code reports a finding (a failed check), not an error: no `error:` line is expected. */
  finding?: boolean;
}

const rows: [string, Row][] = [
  // Values refused by an option's parser are usage errors, not internal failures.
  [
    'prune --keep-last -5',
    {
      args: () => ['prune', '--from', repo(), '--keep-last', '-5'],
      code: 64,
      says: /'--keep-last <n>' argument '-5' is invalid/,
    },
  ],
  [
    'prune --keep-last 0x10 (Number() would read 16)',
    {
      args: () => ['prune', '--from', repo(), '--keep-last', '0x10'],
      code: 64,
      says: /'--keep-last <n>' argument '0x10' is invalid/,
    },
  ],
  [
    'prune --keep-last with an empty value (Number() would read 0)',
    {
      args: () => ['prune', '--from', repo(), '--keep-daily', '7', '--keep-last='],
      code: 64,
      says: /'--keep-last <n>' argument '' is invalid/,
    },
  ],
  [
    'a provider number flag in hex or exponent form',
    {
      args: () => ['backup', 'files', 'src', '--to', repo(), '--gzip-parallel', '0x2'],
      code: 64,
      says: /^error: \[gzip\] --gzip-parallel must be a number, got "0x2"$/m,
    },
  ],
  [
    'prune --keep-daily x',
    {
      args: () => ['prune', '--from', repo(), '--keep-daily', 'x'],
      code: 64,
      says: /'--keep-daily <n>' argument 'x'/,
    },
  ],
  [
    'check --min-size 10MB is read as a size (the backup is smaller: a failed check)',
    {
      args: () => ['check', '--from', repo(), '--max-age', '1h', '--min-size', '10MB'],
      code: 2,
      finding: true,
      says: /FAIL {2}files: too small: .* less than the minimum 10000000/,
    },
  ],
  [
    'check --min-size 10XB',
    {
      args: () => ['check', '--from', repo(), '--max-age', '1h', '--min-size', '10XB'],
      code: 64,
      says: /'--min-size <size>' argument '10XB' is invalid\. invalid size "10XB"; use bytes/,
    },
  ],
  [
    'history --limit 0',
    { args: () => ['history', '--limit', '0'], code: 64, says: /'--limit <n>' argument '0' is invalid/ },
  ],
  [
    "backup postgres --since '99999999 years'",
    {
      args: () => ['backup', 'postgres', '--since', '99999999 years', '--to', repo()],
      env: { DATABASE_URL: CLOSED_DB },
      code: 64,
      says: /--since "99999999 years" reaches back more than 1000 years/,
      notSays: /cannot reach/,
    },
  ],
  [
    'backup postgres --since gibberish',
    {
      args: () => ['backup', 'postgres', '--since', 'last tuesdayish', '--to', repo()],
      env: { DATABASE_URL: CLOSED_DB },
      code: 64,
      says: /is neither a duration nor a date/,
    },
  ],
  [
    'check --max-age 90m (months, not minutes)',
    { args: () => ['check', '--from', repo(), '--max-age', '90m'], code: 64, says: /minutes are "min"/ },
  ],
  // Damaged data exits 2.
  [
    'restore from a manifest naming an unknown provider',
    {
      args: () => ['restore', 'files@latest', '--from', damaged(), '--to-dir', join(work, 'out-damaged')],
      code: 2,
      says: /names the source "nosuch", which no installed provider has/,
    },
  ],
  [
    'restore a backup whose manifest is not JSON',
    {
      args: () => [
        'restore',
        `files@${unreadableId}`,
        '--from',
        unreadable(),
        '--to-dir',
        join(work, 'out-unreadable'),
      ],
      code: 2,
      says: /manifest .*manifest\.json is not valid JSON/,
    },
  ],
  // Missing repositories are errors, not empty listings.
  [
    'list --from a folder that does not exist',
    {
      args: () => ['list', '--from', join(work, 'nonexistent')],
      code: 2,
      says: /the repository .*nonexistent does not exist/,
    },
  ],
  [
    'mirror from a folder that does not exist',
    {
      args: () => ['mirror', join(work, 'nonexistent'), join(work, 'mirror-target')],
      code: 2,
      says: /the repository .*nonexistent does not exist/,
      notSays: /copied 0 backups/,
    },
  ],
  [
    'check --from a folder that does not exist',
    {
      args: () => ['check', '--from', join(work, 'nonexistent'), '--max-age', '1h'],
      code: 2,
      says: /does not exist/,
    },
  ],
  [
    'verify --from a file, not a folder',
    { args: () => ['verify', '--from', join(work, 'good.yaml')], code: 2, says: /is not a folder/ },
  ],
  // Selectors are parsed strictly.
  [
    'restore p@latest@junk',
    {
      args: () => ['restore', 'files@latest@junk', '--from', repo(), '--to-dir', join(work, 'out-junk')],
      code: 64,
      says: /invalid backup selector "files@latest@junk": more than one "@"/,
      notSays: /restored/,
    },
  ],
  [
    'restore p@yesterday',
    {
      args: () => ['restore', 'files@yesterday', '--from', repo(), '--to-dir', join(work, 'out-y')],
      code: 64,
      says: /"yesterday" is neither "latest" nor a backup ID/,
    },
  ],
  [
    'verify with an uppercase pipeline',
    { args: () => ['verify', 'Files', '--from', repo()], code: 64, says: /"Files" is not a pipeline name/ },
  ],
  [
    'restore a pipeline that has no backup',
    {
      args: () => ['restore', 'nosuch', '--from', repo(), '--to-dir', join(work, 'out-n')],
      code: 2,
      says: /no complete backup nosuch@latest/,
    },
  ],
  // Flags: unknown ones are named (with a suggestion) before missing required ones.
  [
    'backup files --too /x',
    {
      args: () => ['backup', 'files', 'src', '--too', '/x'],
      code: 64,
      says: /unknown option '--too'\n\(Did you mean --to\?\)/,
      notSays: /required option/,
    },
  ],
  [
    'list --fro',
    {
      args: () => ['list', '--fro', repo()],
      code: 64,
      says: /unknown option '--fro'\n\(Did you mean --from\?\)/,
    },
  ],
  [
    'list without --from',
    { args: () => ['list'], code: 64, says: /required option '--from <repository>' not specified/ },
  ],
  ['an unknown command', { args: () => ['bakup'], code: 64, says: /unknown command 'bakup'/ }],
  [
    'an unknown source',
    { args: () => ['backup', 'mysql', '--to', repo()], code: 64, says: /unknown command 'mysql'/ },
  ],
  [
    'backup files without paths',
    {
      args: () => ['backup', 'files', '--to', repo()],
      code: 64,
      says: /missing paths for files; pass them as arguments: nexus-backup backup files PATH \[PATH\.\.\.\]/,
      notSays: /--paths/,
    },
  ],
  [
    'a gzip level out of range',
    {
      args: () => ['backup', 'files', 'src', '--to', repo(), '--gzip=42'],
      code: 64,
      says: /gzip level must be a whole number from 1 to 9/,
    },
  ],
  [
    'a target option of another source',
    {
      args: () => ['restore', 'files@latest', '--from', repo(), '--to-dir', join(work, 'o'), '--create-db'],
      code: 64,
      says: /--create-db does not apply to a files backup/,
    },
  ],
  [
    '--passphrase-env naming an unset variable',
    {
      args: () => [
        '--passphrase-env',
        'NEXUS_TEST_UNSET_VAR',
        'backup',
        'files',
        'src',
        '--encrypt',
        '--to',
        repo(),
      ],
      code: 64,
      says: /--passphrase-env NEXUS_TEST_UNSET_VAR: that variable is not set or empty/,
    },
  ],
  // Secrets on argv: refused with a hint that fits the value.
  [
    'a postgres URL with ?password=',
    {
      args: () => ['backup', 'postgres', '--db', 'postgresql://u@h/db?password=hunter2', '--to', repo()],
      code: 64,
      says: /password on the command line \(postgresql:\/\/u@h\/db\?password=\*\*\*\).*PGPASSWORD or ~\/\.pgpass/,
      notSays: /hunter2/,
    },
  ],
  [
    'a postgres URL with ?sslpassword=',
    {
      args: () => [
        'backup',
        'postgres',
        '--db=postgres://u@h/db?sslmode=require&sslpassword=hunter2',
        '--to',
        repo(),
      ],
      code: 64,
      says: /sslpassword=\*\*\*.*DATABASE_URL/,
      notSays: /hunter2/,
    },
  ],
  [
    'a postgres URL with an empty user and a password',
    {
      args: () => ['backup', 'postgres', '--db', 'postgresql://:hunter2@h/db', '--to', repo()],
      code: 64,
      says: /postgresql:\/\/:\*\*\*@h\/db/,
      notSays: /hunter2/,
    },
  ],
  [
    'a postgres URL with a leading blank',
    {
      args: () => ['backup', 'postgres', '--db', '  postgresql://u:hunter2@h/db ', '--to', repo()],
      code: 64,
      says: /password on the command line/,
      notSays: /hunter2/,
    },
  ],
  [
    'a libpq key=value string with password=',
    {
      args: () => ['backup', 'postgres', '--db', "host=h dbname=app password='hunter 2'", '--to', repo()],
      code: 64,
      says: /password=\*\*\*.*PGPASSWORD/,
      notSays: /hunter/,
    },
  ],
  [
    'an S3 URL with keys',
    {
      args: () => ['backup', 'files', 'src', '--to', 's3://AKIAEXAMPLE:hunter2@bucket/p'],
      code: 64,
      says: /AWS credential chain/,
      notSays: /hunter2|PGPASSWORD/,
    },
  ],
  [
    'a webhook URL with a password',
    {
      args: () => checkNotifying('https://u:hunter2@hooks.example/x'),
      code: 64,
      says: /--notify-env VAR/,
      notSays: /hunter2|PGPASSWORD/,
    },
  ],
  [
    'a Slack webhook URL, whose path is its secret',
    {
      args: () => checkNotifying('https://hooks.slack.com/services/T0001/B0001/hunter2hunter2'),
      code: 64,
      says: /a webhook URL on the command line \(https:\/\/hooks\.slack\.com\/\*\*\*\): its path is its secret.*--notify-env VAR/s,
      notSays: /hunter2|T0001/,
    },
  ],
  [
    'an sftp URL with a password',
    {
      args: () => ['backup', 'files', 'src', '--to', 'sftp://u:hunter2@h/p'],
      code: 64,
      says: /identity=FILE\) or ssh-agent/,
      notSays: /hunter2|PGPASSWORD/,
    },
  ],
  [
    'an s3 endpoint= URL with a password inside the repository URL',
    {
      args: () => ['list', '--from', 's3://b/p?endpoint=http://u:hunter2@127.0.0.1:1&region=x'],
      code: 64,
      says: /a password on the command line \(s3:\/\/b\/p\?endpoint=\*\*\*&region=x\)/,
      notSays: /hunter2/,
    },
  ],
  [
    'the same endpoint password percent-encoded',
    {
      args: () => ['list', '--from', 's3://b/p?endpoint=http%3A%2F%2Fu%3Ahunter2%40127.0.0.1%3A1'],
      code: 64,
      says: /a password on the command line \(s3:\/\/b\/p\?endpoint=\*\*\*\)/,
      notSays: /hunter2/,
    },
  ],
  [
    'an s3 endpoint= that is not an http(s) URL',
    {
      args: () => ['list', '--from', 's3://b/p?endpoint=notaurl'],
      code: 64,
      says: /endpoint=notaurl is not an http:\/\/ or https:\/\/ URL; write it like endpoint=http:\/\/127\.0\.0\.1:9000/,
    },
  ],
  [
    'restore --to-file on a files backup names the wrong flag, not a missing --to-dir',
    {
      args: () => ['restore', 'files@latest', '--from', repo(), '--to-file', join(work, 'x.sql')],
      code: 64,
      says: /^error: --to-file does not apply to a files backup; its target options are: --to-dir, --force$/m,
      notSays: /missing required option/,
    },
  ],
  [
    'backup --to the same repository twice (as a path and as a file:// URL)',
    {
      args: () => ['backup', 'files', 'src', '--to', repo(), '--to', `file://${repo()}`],
      code: 64,
      says: /--to file:\/\/\S+ names the same repository as --to \S+; give each copy its own repository/,
    },
  ],
  [
    'backup --encrypt with a passphrase of blanks',
    {
      args: () => ['backup', 'files', 'src', '--to', join(work, 'blank-passphrase'), '--encrypt'],
      env: { NEXUS_BACKUP_PASSPHRASE: '   ' },
      code: 64,
      says: /the passphrase is only blanks; a backup encrypted with it is not protected/,
    },
  ],
  // Config problems: all at once, and schedules checked by run too.
  [
    'config check on a config with three mistakes',
    {
      args: () => ['config', 'check', '--config', 'three-mistakes.yaml'],
      code: 64,
      says: /3 problem\(s\)[\s\S]*transfroms: unknown key; did you mean transforms\?[\s\S]*unknown repository "locl"[\s\S]*unknown option pipelines\.config\.source\.colour/,
    },
  ],
  [
    'run on a config with three mistakes',
    {
      args: () => ['run', '--config', 'three-mistakes.yaml'],
      code: 64,
      says: /has 2 problems:[\s\S]*transfroms[\s\S]*locl/,
    },
  ],
  [
    'run with an invalid schedule',
    {
      args: () => ['run', '--config', 'bad-cron.yaml'],
      code: 64,
      says: /pipelines\.config\.schedule: "99 \* \* \* \*" is not a cron expression/,
    },
  ],
  [
    'config check with an invalid schedule',
    {
      args: () => ['config', 'check', '--config', 'bad-cron.yaml'],
      code: 64,
      says: /is not a cron expression/,
    },
  ],
  [
    'run whose pipeline fails',
    {
      args: () => ['run', '--config', 'failing.yaml'],
      code: 2,
      says: /^error: pipeline config failed: \[files\] .*no-such-file/m,
    },
  ],
  [
    'config check on a good config',
    {
      args: () => ['config', 'check', '--config', 'good.yaml'],
      code: 0,
      says: /ok: .*good\.yaml \(1 pipeline\(s\)\)/,
    },
  ],
  [
    'config check without a config',
    {
      args: () => ['config', 'check'],
      cwd: () => join(work, 'empty-dir'),
      code: 64,
      says: /no config file found/,
    },
  ],
  [
    'schedule without a config',
    { args: () => ['schedule'], cwd: () => join(work, 'empty-dir'), code: 64, says: /no config file found/ },
  ],
  // Controls: the same setup succeeds where it should.
  [
    'list of a good repository',
    { args: () => ['list', '--from', repo()], code: 0, says: /files\s+\d{8}T\d{6}Z-[0-9a-f]{6}/ },
  ],
  [
    '-v logs each stage of a backup',
    {
      args: () => ['-v', 'backup', 'files', 'src', '--to', repo()],
      code: 0,
      says: /debug: pipeline files: source files [\s\S]*transform 1 gzip[\s\S]*destination .*repo[\s\S]*debug: artifact files\.tar\.gz: read [\s\S]*took \d+\.\d\d s/,
    },
  ],
  [
    '-v logs each stage of a restore',
    {
      args: () => ['-v', 'restore', 'files@latest', '--from', repo(), '--to-dir', join(work, 'out-verbose')],
      code: 0,
      says: /debug: restore files@\S+: read from .*repo, decode gzip, files into \{"toDir":[\s\S]*debug: restore files@\S+ took \d+\.\d\d s/,
    },
  ],
];

describe('malformed invocations get one clear error and the documented exit code', () => {
  it.each(rows)('%s', async (_, row) => {
    const result = await runCli(row.args(), { cwd: row.cwd?.() ?? work, env: row.env ?? {} });
    const output = `${result.stdout}${result.stderr}`;
    expect({ code: result.code, output }).toMatchObject({ code: row.code });
    expect(output).toMatch(row.says);
    if (row.notSays) expect(output).not.toMatch(row.notSays);
    expect(output).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/); // no stack trace
    if ((row.code === 2 || row.code === 64) && !row.finding) {
      expect(result.stderr).toMatch(/^error: /m);
      expect(result.stderr).not.toMatch(/^warning: /m);
    }
  });

  it('has at least 30 rows', () => {
    expect(rows.length).toBeGreaterThanOrEqual(30);
  });
});

describe('the bin refuses Node.js older than 22 before loading anything', () => {
  it('prints why and exits 64 when the runtime reports Node 20', async () => {
    // The preload makes this Node report version 20; the bin must stop before importing the CLI.
    const fakeNode20 =
      'data:text/javascript,Object.defineProperty(process.versions,"node",{value:"20.11.1"})';
    const result = await runCli(['list', '--from', '/x'], { nodeFlags: ['--import', fakeNode20] });
    expect(result.code).toBe(64);
    expect(result.stderr).toBe(
      `error: nexus-backup needs Node.js 22 or newer, but this is Node.js 20.11.1 (${process.execPath}); install Node.js 22+ and run it again\n`,
    );
  });
});
