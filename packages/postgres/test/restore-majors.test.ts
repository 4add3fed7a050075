import { createTestContext } from '@nexus-backup/testkit';
import { startPostgres } from '@nexus-backup/testkit/postgres';
import { describe, expect, it } from 'vitest';
import { restoreSql } from '../src/restore/index.js';
import {
  chunked,
  countUserObjects,
  pgDump,
  SOURCE_SQL,
  tableChecksums,
  withClient,
} from './restore-support.js';

describe('restoreSql on the newest major', () => {
  it('restores pg_dump 15 output into PostgreSQL 18 with the same table contents', async () => {
    const source = await startPostgres({ major: 15 });
    let dump: string;
    let expected: Record<string, string>;
    let objects: number;
    try {
      const url = await source.admin.createDatabase('source');
      await source.admin.exec('source', SOURCE_SQL);
      dump = await pgDump(url);
      expected = await tableChecksums(url);
      objects = await countUserObjects(url);
    } finally {
      await source.stop();
    }

    const target = await startPostgres({ major: 18 });
    try {
      const url = await target.admin.createDatabase('restored');
      const report = await restoreSql({
        input: chunked(dump, 65536),
        target: { db: url },
        ctx: createTestContext(),
      });
      expect(report.details).toMatchObject({ rows: 20008 });
      expect(await tableChecksums(url)).toEqual(expected);
      expect(await countUserObjects(url)).toBe(objects);
      await withClient(url, async (client) => {
        const result = await client.query<{ loud: string; n: number }>(
          "SELECT app.shout('x') AS loud, app.add(1, 2) AS n",
        );
        expect(result.rows[0]).toEqual({ loud: 'X;\\', n: 3 });
      });
    } finally {
      await target.stop();
    }
  });
});
