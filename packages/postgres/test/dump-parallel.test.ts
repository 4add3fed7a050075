import { createReadStream, createWriteStream } from 'node:fs';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Artifact, RestoreArtifact } from '@nexus-backup/core';
import { createTestContext } from '@nexus-backup/testkit';
import { type PostgresMajor, type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSource, loadFixtureSet, loadZoo, psqlFile } from './dump-support.js';

// The oldest and the newest supported major; NEXUS_TEST_PG_MAJORS=15 narrows it for a quick local run.
const majors = (process.env.NEXUS_TEST_PG_MAJORS?.split(',').map(Number) ?? [13, 18]) as PostgresMajor[];

/**
 * Two tables of about 11 MiB each (more than the 8 MiB that earns a table its own artifact), so the
 * dump has several data artifacts for its connections to read side by side.
 */
const BIG_TABLES = `
  CREATE TABLE app.big_one (id integer PRIMARY KEY, pad text NOT NULL);
  CREATE TABLE app.big_two (id integer PRIMARY KEY, one_id integer REFERENCES app.big_one (id), pad text);
  INSERT INTO app.big_one SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 90000) g;
  INSERT INTO app.big_two SELECT g, g, repeat(md5((g * 7)::text), 3) FROM generate_series(1, 90000) g;
  ANALYZE app.big_one, app.big_two;`;

/** Dump connections open right now. */
async function dumpSessions(server: PostgresServer): Promise<number> {
  const { rows } = await server.admin.query<{ n: string }>(
    "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'nexus-backup dump'",
  );
  return Number(rows[0]?.n);
}

describe.each(majors)('PostgreSQL %i: a parallel dump (--jobs)', (major) => {
  let server: PostgresServer;
  let dir: string;
  let sourceUrl: string;

  beforeAll(async () => {
    server = await startPostgres({ major });
    dir = await mkdtemp(join(tmpdir(), 'nexus-dump-parallel-'));
    sourceUrl = await server.admin.createDatabase('zoo');
    await loadZoo(sourceUrl, major);
    await loadFixtureSet(sourceUrl, major, 'zoo-schema-kinds');
    await server.admin.exec('zoo', BIG_TABLES);
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Every artifact of a backup with `jobs` connections, none read yet. */
  async function startBackup(jobs: number): Promise<Artifact[]> {
    const source = await createSource({ db: sourceUrl, jobs });
    expect(source.concurrentArtifacts).toBe(jobs);
    const artifacts: Artifact[] = [];
    for await (const artifact of source.backup(createTestContext())) artifacts.push(artifact);
    return artifacts;
  }

  /**
   * Reads every artifact into its own file side by side (as core stores them), `during` running once
   * the data streams have started; returns the files in manifest order.
   */
  async function storeSideBySide(
    artifacts: Artifact[],
    name: string,
    during: () => Promise<void> = async () => undefined,
  ): Promise<string[]> {
    const files = artifacts.map((artifact) => join(dir, `${name}-${artifact.name}`));
    let started: Promise<void> | undefined;
    await Promise.all(
      artifacts.map((artifact, index) =>
        pipeline(
          artifact.stream,
          new Writable({
            write(chunk: Buffer, _encoding, callback) {
              started ??= during();
              started.then(() => appendFile(files[index] as string, chunk)).then(() => callback(), callback);
            },
          }),
        ),
      ),
    );
    return files;
  }

  async function concatenate(files: string[], into: string): Promise<string> {
    const out = createWriteStream(into);
    for (const file of files) out.write(await readFile(file));
    await new Promise<void>((resolve, reject) =>
      out.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
    return into;
  }

  it('reads the data on several connections; the artifacts concatenated in manifest order restore with psql to the same catalog and rows', async () => {
    const artifacts = await startBackup(3);
    const names = artifacts.map((artifact) => artifact.name);
    expect(names[0]).toBe('pre-data.sql');
    expect(names.at(-1)).toBe('post-data.sql');
    const data = artifacts.filter((artifact) => artifact.meta?.part === 'data');
    expect(data.map((artifact) => artifact.name)).toEqual(
      data.map((_, index) => `data-${String(index + 1).padStart(4, '0')}.sql`),
    );
    expect(data.length).toBeGreaterThanOrEqual(3);
    // Largest first: each big table alone, in the first two data artifacts.
    expect(data.slice(0, 2).map((artifact) => artifact.meta?.tables)).toEqual(
      expect.arrayContaining([['app.big_one'], ['app.big_two']]),
    );
    let sessionsDuringDump = 0;
    const files = await storeSideBySide(artifacts, 'parallel', async () => {
      sessionsDuringDump = await dumpSessions(server);
    });
    expect(sessionsDuringDump).toBe(3);
    const script = await concatenate(files, join(dir, 'parallel.sql'));
    const restoredUrl = await server.admin.createDatabase('by_psql');
    await psqlFile(restoredUrl, script);
    expect(await describeDatabase(restoredUrl)).toEqual(await describeDatabase(sourceUrl));
    expect(await tableChecksums(restoredUrl)).toEqual(await tableChecksums(sourceUrl));
    const rows = Object.assign({}, ...data.map((artifact) => artifact.meta?.rows));
    expect(rows['app.big_one']).toBe(90000);
    expect(rows['app.big_two']).toBe(90000);
  });

  it('the source restore reads the per-table artifacts as one script into a new database', async () => {
    const artifacts = await startBackup(2);
    const files = await storeSideBySide(artifacts, 'restore');
    async function* stored(): AsyncIterable<RestoreArtifact> {
      for (const [index, artifact] of artifacts.entries()) {
        yield {
          name: artifact.name,
          stream: createReadStream(files[index] as string),
          rawBytes: 0,
          meta: JSON.parse(JSON.stringify(artifact.meta ?? {})),
        };
      }
    }
    const source = await createSource({ db: sourceUrl });
    await source.restore(createTestContext(), stored(), {
      db: sourceUrl,
      createDb: 'by_nexus',
      singleTransaction: true,
    });
    const restoredUrl = server.url('by_nexus');
    expect(await describeDatabase(restoredUrl)).toEqual(await describeDatabase(sourceUrl));
    expect(await tableChecksums(restoredUrl)).toEqual(await tableChecksums(sourceUrl));
  });

  it('rows written, changed and deleted by others while the connections read are not in it', async () => {
    const before = await tableChecksums(sourceUrl);
    const artifacts = await startBackup(3);
    const files = await storeSideBySide(artifacts, 'consistent', async () => {
      await server.admin.exec(
        'zoo',
        `INSERT INTO app.big_one SELECT g, 'late' FROM generate_series(90001, 90500) g;
         UPDATE app.big_two SET pad = 'changed' WHERE id <= 1000;
         DELETE FROM app.big_two WHERE id > 89000;`,
      );
    });
    expect(await tableChecksums(sourceUrl)).not.toEqual(before);
    const restoredUrl = await server.admin.createDatabase('consistent');
    await psqlFile(restoredUrl, await concatenate(files, join(dir, 'consistent.sql')));
    expect(await tableChecksums(restoredUrl)).toEqual(before);
    await server.admin.exec(
      'zoo',
      `DELETE FROM app.big_one WHERE id > 90000;
       INSERT INTO app.big_two SELECT g, g, repeat(md5((g * 7)::text), 3) FROM generate_series(89001, 90000) g;
       UPDATE app.big_two SET pad = repeat(md5((id * 7)::text), 3) WHERE id <= 1000;`,
    );
    expect(await tableChecksums(sourceUrl)).toEqual(before);
  });

  it('--jobs 1 and --jobs 3 write the same artifacts (but the snapshot named in their headers)', async () => {
    const withoutSnapshot = (text: string) => text.replace(/^-- Server .*$/gm, '');
    const one = await storeSideBySide(await startBackup(1), 'one');
    const three = await storeSideBySide(await startBackup(3), 'three');
    expect(one.length).toBe(three.length);
    for (const [index, file] of one.entries()) {
      expect(withoutSnapshot(await readFile(file, 'utf8'))).toEqual(
        withoutSnapshot(await readFile(three[index] as string, 'utf8')),
      );
    }
    expect(await dumpSessions(server)).toBe(0);
  });

  it('marks each pre-data and post-data object with one JSON line naming its table', async () => {
    const files = await storeSideBySide(await startBackup(2), 'markers');
    const markers = (await Promise.all(files.map((file) => readFile(file, 'utf8'))))
      .flatMap((text) => text.split('\n'))
      .filter((line) => line.startsWith('-- nexus-object: '))
      .map((line) => JSON.parse(line.slice('-- nexus-object: '.length)) as Record<string, string>);
    expect(markers).toContainEqual({ kind: 'table', name: 'app.big_one', table: 'app.big_one' });
    expect(markers).toContainEqual({
      kind: 'constraint',
      name: 'app.big_one.big_one_pkey',
      table: 'app.big_one',
    });
    expect(markers).toContainEqual({ kind: 'schema', name: 'app' });
    const dataText = await readFile(files[1] as string, 'utf8');
    expect(dataText).not.toContain('-- nexus-object:');
    expect(dataText).toContain("SET client_encoding = 'UTF8';");
  });
});
