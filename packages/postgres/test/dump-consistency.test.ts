import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Artifact, runCopy } from '@nexus-backup/core';
import { createTestContext } from '@nexus-backup/testkit';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSource, psqlFile } from './dump-support.js';

let server: PostgresServer;
let dir: string;
let sourceUrl: string;

const SCHEMA = `
  CREATE TABLE accounts (id integer PRIMARY KEY, name text NOT NULL);
  CREATE TABLE transfers (id integer PRIMARY KEY, account_id integer NOT NULL REFERENCES accounts (id), amount numeric);
  INSERT INTO accounts SELECT g, 'account ' || g FROM generate_series(1, 2000) g;
  INSERT INTO transfers SELECT g, 1 + g % 2000, g * 1.5 FROM generate_series(1, 20000) g;`;

beforeAll(async () => {
  server = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'nexus-dump-consistency-'));
  sourceUrl = await server.admin.createDatabase('bank');
  await server.admin.exec('bank', SCHEMA);
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Every artifact of a backup, none of them read yet (reading them streams the dump). */
async function startBackup(signal?: AbortSignal, jobs = 1): Promise<Artifact[]> {
  const source = await createSource({ db: sourceUrl, jobs });
  const artifacts: Artifact[] = [];
  for await (const artifact of source.backup(createTestContext(signal ? { signal } : {})))
    artifacts.push(artifact);
  return artifacts;
}

/** The union of the data artifacts' row counts, as restore and drill read them. */
function rowsOf(artifacts: Artifact[]): Record<string, unknown> {
  return Object.assign({}, ...artifacts.map((artifact) => artifact.meta?.rows ?? {}));
}

/** Open dump connections, polled for a while: a closed socket leaves pg_stat_activity shortly after. */
async function dumpSessionsAfterWaiting(): Promise<number> {
  let sessions = 1;
  for (let attempt = 0; attempt < 50 && sessions > 0; attempt++) {
    const { rows } = await server.admin.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'nexus-backup dump'",
    );
    sessions = Number(rows[0]?.n);
    if (sessions > 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return sessions;
}

/**
 * Reads the artifacts in manifest order into one buffer (the script), running `during` after the
 * first chunk arrives: the snapshot is taken by then, no table data is read yet.
 */
async function consume(artifacts: Artifact[], during: () => Promise<void>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let ran: Promise<void> | undefined;
  for (const artifact of artifacts) {
    await pipeline(
      artifact.stream,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          chunks.push(chunk);
          if (!ran) {
            // Hold the dump until the concurrent writes have committed.
            ran = during();
            ran.then(() => callback(), callback);
          } else callback();
        },
      }),
    );
  }
  return Buffer.concat(chunks);
}

describe('a dump is one consistent snapshot', () => {
  it('rows written, changed and deleted by others while the dump runs are not in it; foreign keys hold', async () => {
    const before = await tableChecksums(sourceUrl);
    const artifacts = await startBackup();
    const sql = await consume(artifacts, async () => {
      await server.admin.exec(
        'bank',
        `INSERT INTO accounts SELECT g, 'late ' || g FROM generate_series(2001, 2100) g;
         INSERT INTO transfers SELECT g, 2001 + g % 100, 1 FROM generate_series(20001, 21000) g;
         UPDATE accounts SET name = 'renamed' WHERE id <= 10;
         DELETE FROM transfers WHERE id <= 500;`,
      );
    });
    const changed = await tableChecksums(sourceUrl);
    expect(changed).not.toEqual(before);
    const file = join(dir, 'bank.sql');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, sql));
    const restored = await server.admin.createDatabase('bank_restored');
    // The foreign key is added after the data, so psql would stop here if a transfer lacked its account.
    await psqlFile(restored, file);
    expect(await tableChecksums(restored)).toEqual(before);
    expect(rowsOf(artifacts)).toEqual({ 'public.accounts': 2000, 'public.transfers': 20000 });
  });

  it('holds ACCESS SHARE locks: DDL on a dumped table waits until the dump ends', async () => {
    const artifacts = await startBackup();
    const other = new pg.Client({ connectionString: sourceUrl });
    await other.connect();
    try {
      await other.query("SET lock_timeout = '100ms'");
      await expect(other.query('ALTER TABLE accounts ADD COLUMN note text')).rejects.toThrow(/lock timeout/);
      await consume(artifacts, async () => undefined);
      await other.query('ALTER TABLE accounts ADD COLUMN note text');
      await other.query('ALTER TABLE accounts DROP COLUMN note');
    } finally {
      await other.end();
    }
  });

  it('a caller that stops without reading the artifact does not leave the dump connection open', async () => {
    const source = await createSource({ db: sourceUrl });
    for await (const artifact of source.backup(createTestContext())) {
      expect(artifact.name).toBe('pre-data.sql');
      break;
    }
    expect(await dumpSessionsAfterWaiting()).toBe(0);
  });

  it('copy streams a live dump straight into a new database (copy postgres --create-db)', async () => {
    const source = await createSource({ db: sourceUrl });
    const report = await runCopy(
      source,
      { db: sourceUrl, createDb: 'bank_copy', singleTransaction: true },
      createTestContext(),
    );
    expect(report.lines.join('\n')).toContain('bank_copy');
    expect(await tableChecksums(server.url('bank_copy'))).toEqual(await tableChecksums(sourceUrl));
    expect(await dumpSessionsAfterWaiting()).toBe(0);
  });

  it('an abort stops the stream and closes the dump connection', async () => {
    const controller = new AbortController();
    const artifacts = await startBackup(controller.signal);
    const finished = consume(artifacts, async () => controller.abort(new Error('stop')));
    await expect(finished).rejects.toThrow();
    expect(await dumpSessionsAfterWaiting()).toBe(0);
  });
});
