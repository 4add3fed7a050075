import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTestContext } from '@nexus-backup/testkit';
import { startPostgres } from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { describe, expect, it } from 'vitest';
import { restoreSql } from '../src/restore/index.js';
import { chunked, pgDump, SOURCE_SQL, withClient } from './restore-support.js';

const run = promisify(execFile);

describe('restoreSql on the newest major', () => {
  it('restores pg_dump 15 output into PostgreSQL 18 exactly as psql does, with the same table contents', async () => {
    const source = await startPostgres({ major: 15 });
    let dump: string;
    let expected: Record<string, string>;
    try {
      const url = await source.admin.createDatabase('source');
      await source.admin.exec('source', SOURCE_SQL);
      dump = await pgDump(url);
      expected = await tableChecksums(url);
    } finally {
      await source.stop();
    }

    const target = await startPostgres({ major: 18 });
    try {
      const ours = await target.admin.createDatabase('restored');
      const report = await restoreSql({
        input: chunked(dump, 65536),
        target: { db: ours },
        ctx: createTestContext(),
      });
      expect(report.details).toMatchObject({ rows: 20008 });
      expect(await tableChecksums(ours)).toEqual(expected);

      // The catalog differs between majors, so the oracle is psql restoring the same dump on the same server.
      const viaPsql = await target.admin.createDatabase('by_psql');
      const psql = run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', `--dbname=${viaPsql}`]);
      psql.child.stdin?.end(dump);
      await psql;
      expect(await describeDatabase(ours)).toBe(await describeDatabase(viaPsql));

      await withClient(ours, async (client) => {
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
