import { spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { isNexusError, type NexusError } from '@nexus-backup/core';
import { createTestContext } from '@nexus-backup/testkit';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreSql } from '../src/restore/index.js';
import {
  chunked,
  comparableDump,
  countUserObjects,
  databaseExists,
  pgDump,
  SOURCE_SQL,
  withClient,
} from './restore-support.js';

// pg_dump 15 (the machine's) refuses newer servers, so the source runs PostgreSQL 15.
let server: PostgresServer;
let sourceUrl: string;
let dump: string;
let work: string;
let databases = 0;

beforeAll(async () => {
  server = await startPostgres({ major: 15 });
  sourceUrl = await server.admin.createDatabase('source');
  await server.admin.exec('source', SOURCE_SQL);
  dump = await pgDump(sourceUrl);
  work = await mkdtemp(join(tmpdir(), 'nexus-restore-'));
});

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function emptyDatabase(): Promise<{ name: string; url: string }> {
  const name = `target_${++databases}`;
  return { name, url: await server.admin.createDatabase(name) };
}

async function restoreError(promise: Promise<unknown>): Promise<NexusError> {
  try {
    await promise;
  } catch (error) {
    if (isNexusError(error)) return error;
    throw error;
  }
  throw new Error('expected the restore to fail');
}

/** The dump cut right after `marker` plus `extra` bytes. */
function cutAfter(marker: string, extra: number): string {
  const at = dump.indexOf(marker);
  if (at < 0) throw new Error(`marker ${marker} not in the dump`);
  return dump.slice(0, at + marker.length + extra);
}

describe('restoreSql into an existing database', () => {
  it('restores pg_dump 15 plain output so that pg_dump of the copy equals pg_dump of the original', async () => {
    expect(dump).toMatch(/^\\restrict /m); // this pg_dump brackets its output with \restrict ... \unrestrict
    const target = await emptyDatabase();
    const report = await restoreSql({
      input: chunked(dump, 65536),
      target: { db: target.url },
      ctx: createTestContext(),
    });

    expect(comparableDump(await pgDump(target.url))).toBe(comparableDump(dump));
    expect(await describeDatabase(target.url)).toBe(await describeDatabase(sourceUrl));
    expect(await tableChecksums(target.url)).toEqual(await tableChecksums(sourceUrl));
    expect(report.details).toMatchObject({
      rows: 20000 + 4 + 4,
      tables: { 'app.bulk': 20000, 'app.people': 4, 'app.pets': 4 },
    });
    expect(report.lines[0]).toMatch(
      /restored into postgresql:\/\/postgres:\*\*\*@.*: \d+ statements, 20008 rows in 3 tables/,
    );
    expect(report.lines.join('\n')).not.toContain(server.password);
  });

  it('restores the same dump read in odd 4099-byte chunks, outside one transaction too', async () => {
    const target = await emptyDatabase();
    await restoreSql({
      input: chunked(dump, 4099),
      target: { db: target.url },
      singleTransaction: false,
      ctx: createTestContext(),
    });
    expect(await tableChecksums(target.url)).toEqual(await tableChecksums(sourceUrl));
  });

  it('gives the same database as psql restoring the same dump', async () => {
    // The oracle for statement splitting: the same dump restored through psql gives the same database.
    const viaPsql = await emptyDatabase();
    const { execFile } = await import('node:child_process');
    await new Promise<void>((resolve, reject) => {
      const child = execFile(
        'psql',
        ['-X', '-q', '-v', 'ON_ERROR_STOP=1', `--dbname=${viaPsql.url}`],
        (error) => (error ? reject(error) : resolve()),
      );
      child.stdin?.end(dump);
    });
    const ours = await emptyDatabase();
    await restoreSql({ input: chunked(dump, 65536), target: { db: ours.url }, ctx: createTestContext() });
    expect(comparableDump(await pgDump(ours.url))).toBe(comparableDump(await pgDump(viaPsql.url)));
    await withClient(ours.url, async (client) => {
      const result = await client.query<{ n: number }>('SELECT app.add(2, 3) AS n');
      expect(result.rows[0]?.n).toBe(5);
    });
  });

  it('refuses a non-empty target, naming what it holds, and leaves it as it was', async () => {
    const target = await emptyDatabase();
    await server.admin.exec(target.name, 'CREATE TABLE public.already_here (id int); CREATE SCHEMA extra;');
    const error = await restoreError(
      restoreSql({ input: chunked(dump, 65536), target: { db: target.url }, ctx: createTestContext() }),
    );
    expect(error.code).toBe('TARGET');
    expect(error.message).toMatch(/is not empty: schema extra, table public\.already_here/);
    expect(error.message).not.toContain(server.password);
    expect(await countUserObjects(target.url)).toBe(2);
  });

  it('restores a data-only dump into a database holding the schema when allowNonEmpty is set', async () => {
    const target = await emptyDatabase();
    await restoreSql({
      input: chunked(await pgDump(sourceUrl, ['--schema-only']), 65536),
      target: { db: target.url },
      ctx: createTestContext(),
    });
    await restoreSql({
      input: chunked(await pgDump(sourceUrl, ['--data-only']), 65536),
      target: { db: target.url },
      allowNonEmpty: true,
      ctx: createTestContext(),
    });
    // pg_dump puts materialized view data in post-data, outside both --schema-only and --data-only.
    const { 'app.mood_counts': _unpopulated, ...tables } = await tableChecksums(sourceUrl);
    expect(await tableChecksums(target.url)).toEqual(tables);
  });

  it.each([
    ['mid-statement', () => cutAfter('CREATE TABLE app.people (', 20), /ends inside a statement/],
    [
      'mid-COPY',
      () => cutAfter('COPY app.bulk (id, payload) FROM stdin;\n', 300_000),
      /inside the COPY data of app\.bulk/,
    ],
    ['before \\unrestrict', () => dump.slice(0, dump.lastIndexOf('\\unrestrict')), /before the \\unrestrict/],
  ])(
    'rejects a dump cut short %s and leaves the target empty (one transaction)',
    async (_name, cut, message) => {
      const target = await emptyDatabase();
      const error = await restoreError(
        restoreSql({ input: chunked(cut(), 65536), target: { db: target.url }, ctx: createTestContext() }),
      );
      expect(error.code).toBe('INTEGRITY');
      expect(error.message).toMatch(message);
      expect(error.message).toMatch(/cut short.*nothing was restored \(one transaction, rolled back\)/);
      expect(await countUserObjects(target.url)).toBe(0);
    },
  );

  it('stops at the first failing statement, naming its line and text', async () => {
    const target = await emptyDatabase();
    const script = [
      '-- a script with a mistake',
      'CREATE TABLE public.t (id int);',
      '',
      "INSERT INTO public.t VALUES (1); SELECT 'after;'",
      '  || no_such_column;',
      'CREATE TABLE public.never (id int);',
    ].join('\n');
    const error = await restoreError(
      restoreSql({ input: chunked(script, 7), target: { db: target.url }, ctx: createTestContext() }),
    );
    expect(error.code).toBe('IO');
    expect(error.message).toMatch(
      /the statement at line 4 failed: column "no_such_column" does not exist; statement: SELECT 'after;' \|\| no_such_column;/,
    );
    expect(await countUserObjects(target.url)).toBe(0);
  });

  it("passes the server's hint on a failing statement to the error (what to change)", async () => {
    const target = await emptyDatabase();
    const script = 'SELECT pg_catalog.no_such_function(1);\n';
    const error = await restoreError(
      restoreSql({ input: chunked(script, 7), target: { db: target.url }, ctx: createTestContext() }),
    );
    expect(error.message).toMatch(
      /the statement at line 1 failed: function pg_catalog.no_such_function\(integer\) does not exist/,
    );
    expect(error.hint).toMatch(/No function matches the given name and argument types/);
  });

  it('names the line of a bad COPY row, and reports the partial restore outside one transaction', async () => {
    const target = await emptyDatabase();
    const script =
      'CREATE TABLE public.t (id int, name text);\nCOPY public.t (id, name) FROM stdin;\n1\ta\n2\tb\nthree\tc\n\\.\n';
    const error = await restoreError(
      restoreSql({
        input: chunked(script, 3),
        target: { db: target.url },
        singleTransaction: false,
        ctx: createTestContext(),
      }),
    );
    expect(error.code).toBe('IO');
    expect(error.message).toMatch(
      /the COPY into public\.t failed at line 5: invalid input syntax for type integer: "three"/,
    );
    expect(error.message).toMatch(/partly restored \(1 statements ran\)/);
    expect(await countUserObjects(target.url)).toBe(1);
  });

  it('rejects a dump made with --create before it touches the server', async () => {
    const target = await emptyDatabase();
    const error = await restoreError(
      restoreSql({
        input: chunked(await pgDump(sourceUrl, ['--create']), 65536),
        target: { db: target.url },
        ctx: createTestContext(),
      }),
    );
    expect(error.code).toBe('INTEGRITY');
    expect(error.message).toMatch(/line \d+: the script creates its own database: CREATE DATABASE source/);
    expect(error.hint).toMatch(/--create/);
  });

  it('rejects a psql command it cannot run, with its line', async () => {
    const target = await emptyDatabase();
    const error = await restoreError(
      restoreSql({
        input: chunked('SELECT 1;\n\\set ON_ERROR_STOP on\n', 65536),
        target: { db: target.url },
        ctx: createTestContext(),
      }),
    );
    expect(error.code).toBe('INTEGRITY');
    expect(error.message).toMatch(/line 2: the script uses the psql command \\set/);
  });

  it('stops on abort and leaves the target as it was', async () => {
    const target = await emptyDatabase();
    const controller = new AbortController();
    const bytes = Buffer.from(dump);
    const copyAt = dump.indexOf('COPY app.bulk');
    const input = Readable.from(
      (function* () {
        for (let offset = 0; offset < bytes.length; offset += 4096) {
          // Abort in the middle of the big COPY block.
          if (offset > copyAt + 100_000) controller.abort();
          yield bytes.subarray(offset, offset + 4096);
        }
      })(),
    );
    const error = await restoreError(
      restoreSql({
        input,
        target: { db: target.url },
        ctx: createTestContext({ signal: controller.signal }),
      }),
    );
    expect(error.code).toBe('ABORTED');
    expect(await countUserObjects(target.url)).toBe(0);
  });

  it('reports a missing database and a wrong password without showing the password', async () => {
    const missing = await restoreError(
      restoreSql({
        input: chunked(dump, 65536),
        target: { db: server.url('no_such_db') },
        ctx: createTestContext(),
      }),
    );
    expect(missing.code).toBe('NOT_FOUND');
    const wrong = server.url('postgres').replace(server.password, 'wrong-password');
    const refused = await restoreError(
      restoreSql({ input: chunked(dump, 65536), target: { db: wrong }, ctx: createTestContext() }),
    );
    expect(refused.code).toBe('CONNECTION');
    expect(refused.message).not.toContain('wrong-password');
    expect(missing.message).not.toContain(server.password);
  });
});

describe('restoreSql into a new database (createDb)', () => {
  it('creates the database on the server of db and restores into it', async () => {
    const report = await restoreSql({
      input: chunked(dump, 65536),
      target: { db: sourceUrl, createDb: 'created_copy' },
      ctx: createTestContext(),
    });
    expect(report.lines[0]).toMatch(/^created database "created_copy" and restored into it/);
    expect(comparableDump(await pgDump(server.url('created_copy')))).toBe(comparableDump(dump));
  });

  it('never replaces an existing database', async () => {
    const existing = await emptyDatabase();
    await server.admin.exec(existing.name, 'CREATE TABLE public.keep_me (id int)');
    const error = await restoreError(
      restoreSql({
        input: chunked(dump, 65536),
        target: { db: sourceUrl, createDb: existing.name },
        ctx: createTestContext(),
      }),
    );
    expect(error.code).toBe('TARGET');
    expect(error.message).toMatch(new RegExp(`database "${existing.name}" already exists`));
    expect(await countUserObjects(existing.url)).toBe(1);
  });

  it('drops the new database when the dump is cut short, even outside one transaction', async () => {
    const error = await restoreError(
      restoreSql({
        input: chunked(cutAfter('COPY app.bulk (id, payload) FROM stdin;\n', 50_000), 65536),
        target: { db: sourceUrl, createDb: 'cut_copy' },
        singleTransaction: false,
        ctx: createTestContext(),
      }),
    );
    expect(error.code).toBe('INTEGRITY');
    expect(error.message).toMatch(/cut short.*no database "cut_copy" was created/);
    expect(await databaseExists(server, 'cut_copy')).toBe(false);
  });

  it.each(['bad name', 'x'.repeat(64), '1st', 'semi;colon'])('refuses the database name %j', async (name) => {
    const error = await restoreError(
      restoreSql({
        input: chunked(dump, 65536),
        target: { db: sourceUrl, createDb: name },
        ctx: createTestContext(),
      }),
    );
    expect(error.code).toBe('USAGE');
    expect(await databaseExists(server, name)).toBe(false);
  });
});

describe('restoreSql to a file (toFile)', () => {
  it("removes the partial files killed restores to the same file left (they hold the dump), never a live run's", async () => {
    const path = join(work, 'after-kill.sql');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const killed = join(work, `.after-kill.sql.${dead.stdout.toString()}-0123456789ab.partial`);
    const live = join(work, `.after-kill.sql.${process.pid}-ba9876543210.partial`);
    await writeFile(killed, 'decrypted rows');
    await writeFile(live, 'being written');
    await restoreSql({ input: chunked(dump, 65536), target: { toFile: path }, ctx: createTestContext() });
    const left = (await readdir(work)).filter((name) => name.startsWith('.after-kill.sql.'));
    expect(left).toEqual([basename(live)]);
    await rm(live);
  });

  it('writes the script byte for byte, mode 0600, and counts what it holds', async () => {
    const path = join(work, 'out.sql');
    const report = await restoreSql({
      input: chunked(dump, 4099),
      target: { toFile: path },
      ctx: createTestContext(),
    });
    expect(await readFile(path, 'utf8')).toBe(dump);
    expect(report.details).toMatchObject({ toFile: path, bytes: Buffer.byteLength(dump), rows: 20008 });
    const { mode } = await import('node:fs/promises').then((fs) => fs.stat(path));
    expect(mode & 0o777).toBe(0o600);
  });

  it('writes the file when db is also set (DATABASE_URL in the environment), leaving that database alone', async () => {
    const target = await emptyDatabase();
    const path = join(work, 'with-db.sql');
    await restoreSql({
      input: chunked(dump, 65536),
      target: { toFile: path, db: target.url },
      ctx: createTestContext(),
    });
    expect(await readFile(path, 'utf8')).toBe(dump);
    expect(await countUserObjects(target.url)).toBe(0);
  });

  it('refuses toFile together with createDb', async () => {
    const error = await restoreError(
      restoreSql({
        input: chunked(dump, 65536),
        target: { toFile: join(work, 'never.sql'), db: sourceUrl, createDb: 'never' },
        ctx: createTestContext(),
      }),
    );
    expect(error.code).toBe('USAGE');
    expect(await databaseExists(server, 'never')).toBe(false);
  });

  it('never replaces an existing file', async () => {
    const path = join(work, 'existing.sql');
    await writeFile(path, 'keep me');
    const error = await restoreError(
      restoreSql({ input: chunked(dump, 65536), target: { toFile: path }, ctx: createTestContext() }),
    );
    expect(error.code).toBe('TARGET');
    expect(await readFile(path, 'utf8')).toBe('keep me');
  });

  it('stops on abort and leaves no file', async () => {
    const directory = await mkdtemp(join(work, 'abort-'));
    const controller = new AbortController();
    const bytes = Buffer.from(dump);
    const input = Readable.from(
      (function* () {
        for (let offset = 0; offset < bytes.length; offset += 4096) {
          if (offset > bytes.length / 2) controller.abort();
          yield bytes.subarray(offset, offset + 4096);
        }
      })(),
    );
    const error = await restoreError(
      restoreSql({
        input,
        target: { toFile: join(directory, 'out.sql') },
        ctx: createTestContext({ signal: controller.signal }),
      }),
    );
    expect(error.code).toBe('ABORTED');
    expect(await readdir(directory)).toEqual([]);
  });

  it('leaves no file, not even a partial one, for a dump cut short', async () => {
    const directory = await mkdtemp(join(work, 'cut-'));
    const error = await restoreError(
      restoreSql({
        input: createReadStream(await writeTemp(cutAfter('COPY app.bulk (id, payload) FROM stdin;\n', 1000))),
        target: { toFile: join(directory, 'out.sql') },
        ctx: createTestContext(),
      }),
    );
    expect(error.code).toBe('INTEGRITY');
    expect(await readdir(directory)).toEqual([]);
  });
});

async function writeTemp(text: string): Promise<string> {
  const path = join(work, `input-${Math.random().toString(36).slice(2)}.sql`);
  await writeFile(path, text);
  return path;
}
