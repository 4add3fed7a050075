import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type PostgresMajor, type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { type PitrWorkspace, pitrWorkspace, switchAndWaitArchived } from './helpers/pitr.js';

// NEXUS_TEST_PG_MAJORS=15 narrows the matrix for a quick local run; the issue asks for 13, 15 and 18.
const majors = (process.env.NEXUS_TEST_PG_MAJORS?.split(',').map(Number) ?? [13, 15, 18]) as PostgresMajor[];

/**
 * The issue's "Must work exactly like this" block, line for line. Only the host paths and the server's
 * address are this machine's (/backups, /var/lib/postgresql/data, /srv/pg-restored, /tmp/seg, port 5432);
 * `nexus-backup` is the command on PATH, for the test runner and for PostgreSQL alike.
 */
const ISSUE_LINES = {
  archiveCommand: 'nexus-backup wal push %p --to /backups --pipeline wal',
  backup:
    'nexus-backup backup pgbase --db postgresql://postgres@127.0.0.1:5432/postgres --pgdata /var/lib/postgresql/data --to /backups --pipeline base',
  restore:
    "nexus-backup restore base@latest --from /backups --to-pgdata /srv/pg-restored --target-time '2026-12-06 14:05:00+00'",
  restoreCommand: "restore_command = 'nexus-backup wal fetch %f %p --from /backups --pipeline wal'",
  fetch: 'nexus-backup wal fetch 000000010000000000000003 /tmp/seg --from /backups --pipeline wal',
  verify: 'nexus-backup verify wal --from /backups',
  check: 'nexus-backup check --from /backups --max-age 26h --max-wal-age 15m',
};

/** Splits a command line as sh would for these lines (words, and '...' quoted words). */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((match) => (match[1] ?? match[2]) as string);
}

describe.each(majors)("the issue's PITR command lines on PostgreSQL %i", (major) => {
  let workspace: PitrWorkspace;
  let server: PostgresServer;
  let place: (line: string) => string;
  const savedPath = process.env.PATH;
  /** Runs one of the lines above (after `nexus-backup`) with this machine's paths. */
  const run = (line: string) => runCli(words(place(line)).slice(1), { env: { PGPASSWORD: server.password } });

  beforeAll(async () => {
    workspace = await pitrWorkspace();
    // `nexus-backup` on PATH: archive_command and restore_command call it by that name.
    const bin = join(workspace.dir, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'nexus-backup'), `#!/bin/sh\nexec ${workspace.cli} "$@"\n`);
    await chmod(bin, 0o755);
    await chmod(join(bin, 'nexus-backup'), 0o755);
    process.env.PATH = `${bin}:${savedPath}`;
    const restored = join(workspace.dir, 'pg-restored');
    // The server's address and data directory are known once it runs; archive_command needs neither.
    const placeholders = () =>
      [
        ['/backups', workspace.repo],
        ['/srv/pg-restored', restored],
        ['/tmp/seg', join(workspace.dir, 'seg')],
        ...(server
          ? ([
              ['postgres@127.0.0.1:5432', `${server.user}@${server.host}:${server.port}`],
              ['/var/lib/postgresql/data', server.dataDir],
            ] as const)
          : []),
      ] as const;
    place = (line) => placeholders().reduce((text, [from, to]) => text.replaceAll(from, to), line);
    server = await startPostgres({
      major,
      settings: {
        archive_mode: 'on',
        wal_level: 'replica',
        archive_command: place(ISSUE_LINES.archiveCommand),
      },
    });
  });
  afterAll(async () => {
    process.env.PATH = savedPath;
    await server?.stop();
    await workspace?.remove();
  });

  it('archives, takes a base backup, restores to a time, fetches a segment, verifies continuity and checks freshness', async () => {
    await server.admin.exec(
      'postgres',
      'CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 500) g',
    );
    const backup = await run(ISSUE_LINES.backup);
    expect({ code: backup.code, stderr: backup.stderr }).toEqual({
      code: 0,
      stderr: expect.stringContaining('backup base@'),
    });

    await server.admin.exec(
      'postgres',
      'INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(501, 900) g',
    );
    // Segment 3 must be archived for the `wal fetch` line.
    let switched = await switchAndWaitArchived(server);
    while (switched < '000000010000000000000003') switched = await switchAndWaitArchived(server);
    const expected = await tableChecksums(server.url());
    const { rows } = await server.admin.query<{ now: string }>(
      "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS now",
    );
    const target = rows[0]?.now as string;
    await server.admin.exec('postgres', 'DROP TABLE orders');
    await switchAndWaitArchived(server);

    const restore = await run(ISSUE_LINES.restore.replace('2026-12-06 14:05:00+00', target));
    expect({ code: restore.code, stderr: restore.stderr }).toEqual({
      code: 0,
      stderr: expect.stringContaining('restored base@'),
    });
    expect(restore.stdout).toContain(place(ISSUE_LINES.restoreCommand));
    expect(restore.stdout).toContain(`recovery_target_time = '${target}'`);
    expect(restore.stdout).toContain('next: ');
    const copy = await startPostgres({
      major,
      dataDir: place('/srv/pg-restored'),
      password: server.password,
      settings: { archive_mode: 'off' },
    });
    try {
      expect(await tableChecksums(copy.url())).toEqual(expected);
    } finally {
      await copy.stop();
    }

    const fetched = await run(ISSUE_LINES.fetch);
    expect({ code: fetched.code, stderr: fetched.stderr }).toEqual({ code: 0, stderr: '' });
    expect((await stat(place('/tmp/seg'))).size).toBe(16 * 1024 * 1024);

    const verify = await run(ISSUE_LINES.verify);
    expect(verify.code).toBe(0);
    expect(verify.stderr).toMatch(/WAL wal timeline 1: [0-9A-F]{24}\.\.[0-9A-F]{24} complete/);

    const check = await run(ISSUE_LINES.check);
    expect({ code: check.code, stderr: check.stderr }).toEqual({ code: 0, stderr: '' });
    expect(check.stdout).toMatch(/^ok {4}base: newest backup /m);
    expect(check.stdout).toMatch(/^ok {4}wal: newest WAL [0-9A-F]{24}\S* archived \d+s ago$/m);
  });
});
