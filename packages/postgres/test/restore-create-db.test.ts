import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { createTestContext } from '@nexus-backup/testkit';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreSql } from '../src/restore/index.js';
import { countUserObjects, databaseExists, pgDump, SOURCE_SQL } from './restore-support.js';

let server: PostgresServer;
let sourceUrl: string;
let dump: string;

beforeAll(async () => {
  // pg_dump 15 (the machine's) refuses newer servers, so the source runs PostgreSQL 15.
  server = await startPostgres({ major: 15 });
  sourceUrl = await server.admin.createDatabase('source');
  await server.admin.exec('source', SOURCE_SQL);
  dump = await pgDump(sourceUrl);
});

afterAll(async () => {
  await server?.stop();
});

const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 6);

/** The pid of a process that has exited, as a killed restore's would be. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

async function temporaryDatabases(): Promise<string[]> {
  const { rows } = await server.admin.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname LIKE 'nexus\\_restore\\_%' ORDER BY datname",
  );
  return rows.map((row) => row.datname);
}

/** What a restore killed after CREATE DATABASE leaves: a temporary database, marked unless `mark` is null. */
async function leaveTemporary(name: string, mark: object | null): Promise<void> {
  await server.admin.query(`CREATE DATABASE "${name}" TEMPLATE template0`);
  if (mark) {
    const text = JSON.stringify({ tool: 'nexus-backup', startedAt: new Date().toISOString(), ...mark });
    await server.admin.query(`COMMENT ON DATABASE "${name}" IS '${text}'`);
  }
}

function restoreInto(name: string, input: Readable = Readable.from([Buffer.from(dump)])) {
  return restoreSql({ input, target: { db: sourceUrl, createDb: name }, ctx: createTestContext() });
}

describe('restore --create-db builds the database under a temporary name', () => {
  it('never shows the requested name while restoring: it appears, complete, by a rename at the end', async () => {
    let release: () => void = () => {};
    const paused = new Promise<void>((resolve) => {
      release = resolve;
    });
    const half = Math.floor(dump.length / 2);
    let reached: () => void = () => {};
    const halfway = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const input = Readable.from(
      (async function* () {
        yield Buffer.from(dump.slice(0, half));
        reached();
        await paused;
        yield Buffer.from(dump.slice(half));
      })(),
    );
    const restoring = restoreInto('renamed_at_end', input);
    await halfway;
    expect(await databaseExists(server, 'renamed_at_end')).toBe(false);
    expect(await temporaryDatabases()).toHaveLength(1);
    release();
    await restoring;
    expect(await databaseExists(server, 'renamed_at_end')).toBe(true);
    expect(await countUserObjects(server.url('renamed_at_end'))).toBeGreaterThan(0);
    expect(await temporaryDatabases()).toEqual([]);
  });

  it('drops the temporary database of a killed restore into the same name, then restores', async () => {
    const leftover = `nexus_restore_${HOST_TAG}_1_0000dead`;
    await leaveTemporary(leftover, { restoreInto: 'after_kill', host: hostname(), pid: deadPid() });
    await restoreInto('after_kill');
    expect(await databaseExists(server, leftover)).toBe(false);
    expect(await databaseExists(server, 'after_kill')).toBe(true);
  });

  it('drops an unmarked temporary database this host made when its pid is gone (killed before the comment)', async () => {
    const leftover = `nexus_restore_${HOST_TAG}_${deadPid()}_0000beef`;
    await leaveTemporary(leftover, null);
    await restoreInto('after_early_kill');
    expect(await databaseExists(server, leftover)).toBe(false);
    expect(await databaseExists(server, 'after_early_kill')).toBe(true);
  });

  it("leaves a live run's temporary database, another name's, and another host's recent one alone", async () => {
    const live = `nexus_restore_${HOST_TAG}_${process.pid}_0000a11e`;
    const otherName = `nexus_restore_${HOST_TAG}_2_00000002`;
    const otherHost = 'nexus_restore_ffffff_3_00000003';
    await leaveTemporary(live, { restoreInto: 'kept_apart', host: hostname(), pid: process.pid });
    await leaveTemporary(otherName, { restoreInto: 'some_other', host: hostname(), pid: deadPid() });
    await leaveTemporary(otherHost, { restoreInto: 'kept_apart', host: 'elsewhere', pid: 3 });
    await restoreInto('kept_apart');
    expect(await temporaryDatabases()).toEqual([otherHost, live, otherName].sort());
    for (const name of [live, otherName, otherHost]) await server.admin.query(`DROP DATABASE "${name}"`);
  });

  it('refuses an existing name before creating anything', async () => {
    await server.admin.createDatabase('taken_name');
    const error = await restoreInto('taken_name').catch((e: unknown) => e as Error);
    expect(error.message).toMatch(/database "taken_name" already exists/);
    expect(await temporaryDatabases()).toEqual([]);
  });
});

describe('restore --create-db with the locale a backup recorded', () => {
  it('stops before anything is written when the server lacks that locale, naming it and what to do', async () => {
    const error = (await restoreSql({
      input: Readable.from([Buffer.from(dump)]),
      target: {
        db: sourceUrl,
        createDb: 'from_elsewhere',
        locale: { encoding: 'UTF8', collate: 'xx_YY.nowhere', ctype: 'xx_YY.nowhere' },
      },
      ctx: createTestContext(),
    }).catch((caught: unknown) => caught)) as Error & { code?: string; hint?: string };
    expect(error.message).toMatch(/could not create database "from_elsewhere".*xx_YY\.nowhere/);
    expect(error.hint).toMatch(
      /install the locale there, or create the database yourself and restore into it with --db/,
    );
    expect(await databaseExists(server, 'from_elsewhere')).toBe(false);
    expect(await temporaryDatabases()).toEqual([]);
  });
});
