import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestContext } from '@nexus-backup/testkit';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupToFile, loadZoo, psqlFile } from './dump-support.js';

// The operators' upgrade path: a dump taken from the oldest supported major loads into the newest.
let oldest: PostgresServer;
let newest: PostgresServer;
let dir: string;

beforeAll(async () => {
  [oldest, newest] = await Promise.all([startPostgres({ major: 13 }), startPostgres({ major: 18 })]);
  dir = await mkdtemp(join(tmpdir(), 'nexus-dump-upgrade-'));
});

afterAll(async () => {
  await Promise.all([oldest?.stop(), newest?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a dump from PostgreSQL 13', () => {
  it('restores into PostgreSQL 18 with psql, every table with the same rows', async () => {
    const sourceUrl = await oldest.admin.createDatabase('zoo');
    await loadZoo(sourceUrl, 13);
    const file = join(dir, 'zoo13.sql');
    await backupToFile({ db: sourceUrl }, file, createTestContext());
    const targetUrl = await newest.admin.createDatabase('zoo_from_13');
    await psqlFile(targetUrl, file);
    expect(await tableChecksums(targetUrl)).toEqual(await tableChecksums(sourceUrl));
  });
});
