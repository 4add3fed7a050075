import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { tableChecksums } from '@nexus-backup/testkit/postgres-compare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli, tempDir } from '../helpers/cli.js';
import { FULL, randomMoment, runKilledAfter } from './kill-support.js';

const KILLS = FULL ? 20 : 4;
const TARGET = 'chaos_restored';

let server: PostgresServer;
let env: NodeJS.ProcessEnv;
let repo: string;
let expected: Awaited<ReturnType<typeof tableChecksums>>;
let typicalMs = 0;
const urlOf = (database: string) => `postgresql://${server.user}@${server.host}:${server.port}/${database}`;
const restoreArgs = ['restore', 'db@latest', '--from', '', '--create-db', TARGET, '--db', ''];

async function databases(): Promise<string[]> {
  const { rows } = await server.admin.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE 'nexus\\_restore\\_%' ORDER BY datname",
    [TARGET],
  );
  return rows.map((row) => row.datname);
}

beforeAll(async () => {
  server = await startPostgres({ major: 15 });
  env = { PGPASSWORD: server.password };
  await server.admin.createDatabase('app');
  const sample = join(REPO_ROOT, 'examples/sample-service');
  await server.admin.exec('app', await readFile(join(sample, 'schema.sql'), 'utf8'));
  await server.admin.exec('app', await readFile(join(sample, 'seed.sql'), 'utf8'));
  await server.admin.exec('app', `SELECT seed_sample_service(${FULL ? 3000 : 300}, 4)`);
  expected = await tableChecksums(server.url('app'));
  repo = await tempDir('chaos-create-db');
  const backup = await runCli(
    ['backup', 'postgres', '--db', urlOf('app'), '--to', repo, '--pipeline', 'db'],
    {
      env,
    },
  );
  expect(backup.code).toBe(0);
  restoreArgs[3] = repo;
  restoreArgs[7] = urlOf('app');
  const started = Date.now();
  expect((await runCli(restoreArgs, { env })).code).toBe(0);
  typicalMs = Date.now() - started;
  await server.admin.dropDatabase(TARGET);
}, 600_000);

afterAll(async () => {
  await server?.stop();
  if (repo) await rm(repo, { recursive: true, force: true });
});

describe('restore --create-db killed with SIGKILL at random moments', () => {
  it('never leaves the requested database empty or partial, and a retry always succeeds', async () => {
    for (let kill = 0; kill < KILLS; kill += 1) {
      await runKilledAfter(restoreArgs, randomMoment(typicalMs), env);
      // Absent, or there and complete (the kill came after the rename).
      if ((await databases()).includes(TARGET)) {
        expect(await tableChecksums(server.url(TARGET))).toEqual(expected);
        await server.admin.dropDatabase(TARGET);
      }

      const retry = await runCli(restoreArgs, { env });
      expect(retry.stderr).not.toContain('already exists');
      expect(retry.code).toBe(0);
      expect(await tableChecksums(server.url(TARGET))).toEqual(expected);
      // The retry dropped whatever temporary database the killed run left.
      expect(await databases()).toEqual([TARGET]);
      await server.admin.dropDatabase(TARGET);
    }
  }, 1_800_000);
});
