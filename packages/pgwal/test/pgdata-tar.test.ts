import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Parser, type ReadEntry } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { packDataDirectory } from '../src/pgdata-tar.js';

describe('packDataDirectory', () => {
  let pgdata: string;
  beforeEach(async () => {
    pgdata = await mkdtemp(join(tmpdir(), 'nexus-pgwal-pgdata-'));
  });
  afterEach(async () => {
    await rm(pgdata, { recursive: true, force: true });
  });

  async function entries(): Promise<string[]> {
    const names: string[] = [];
    const parser = new Parser({
      onReadEntry: (entry: ReadEntry) => {
        names.push(entry.path);
        entry.resume();
      },
    });
    await pipeline(packDataDirectory(pgdata, new AbortController().signal), parser);
    return names.sort();
  }

  it("leaves out what PostgreSQL's docs say to leave out, keeping the emptied folders", async () => {
    const files: Record<string, string> = {
      PG_VERSION: '15\n',
      'postgresql.conf': '',
      'postmaster.pid': '123',
      'postmaster.opts': 'postgres',
      backup_label: 'old',
      'base/1/1259': 'relation',
      'base/1/pg_internal.init': 'cache',
      'base/pgsql_tmp/pgsql_tmp1.0': 'temp',
      'pg_wal/000000010000000000000001': 'wal',
      'pg_wal/archive_status/000000010000000000000001.done': '',
      'pg_stat_tmp/global.stat': 'stats',
      'pg_replslot/slot/state': 'slot',
      'global/pg_control': 'control',
    };
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(pgdata, path, '..'), { recursive: true });
      await writeFile(join(pgdata, path), content);
    }
    await mkdir(join(pgdata, 'pg_tblspc'));
    expect(await entries()).toEqual([
      'PG_VERSION',
      'base/',
      'base/1/',
      'base/1/1259',
      'global/',
      'global/pg_control',
      'pg_replslot/',
      'pg_stat_tmp/',
      'pg_tblspc/',
      'pg_wal/',
      'postgresql.conf',
    ]);
  });

  it('refuses a data directory with tablespaces', async () => {
    await mkdir(join(pgdata, 'pg_tblspc'));
    await writeFile(join(pgdata, 'pg_tblspc', '16384'), '');
    await expect(entries()).rejects.toThrow(/tablespaces/);
  });
});
