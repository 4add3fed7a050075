import { createServer } from 'node:net';
import { isNexusError, type NexusError } from '@nexus-backup/core';
import { postgres } from '@nexus-backup/postgres';
import { createTestContext } from '@nexus-backup/testkit';
import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
});

afterAll(async () => {
  await server?.stop();
});

const defaults = { schemaOnly: false, dataOnly: false, owners: false, privileges: false };

/** The error of a backup's first step (connecting), or of describe. */
async function failure(db: string, step: 'backup' | 'describe'): Promise<NexusError> {
  const source = await postgres.create({ db, ...defaults });
  try {
    if (step === 'describe') await source.describe(createTestContext());
    else for await (const artifact of source.backup(createTestContext())) artifact.stream.destroy();
  } catch (error) {
    if (isNexusError(error)) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
    });
  });
}

describe.each(['backup', 'describe'] as const)('%s connection errors', (step) => {
  it('an unreachable server is a CONNECTION error naming host and port, with the password redacted', async () => {
    const port = await closedPort();
    const error = await failure(`postgresql://app:s3cret-pw@127.0.0.1:${port}/app`, step);
    expect(error.code).toBe('CONNECTION');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).toContain('postgresql://app:***@127.0.0.1');
    expect(`${error.message} ${error.hint}`).not.toContain('s3cret-pw');
    expect(error.hint).toMatch(/server is running/);
  });

  it('a wrong password is a CONNECTION error that says to check the credentials', async () => {
    const error = await failure(server.url('postgres').replace(server.password, 'wrong-password'), step);
    expect(error.code).toBe('CONNECTION');
    expect(error.message).toContain('refused user "postgres"');
    expect(error.hint).toMatch(/password/);
    expect(`${error.message} ${error.hint}`).not.toContain('wrong-password');
  });

  it('a missing database is NOT_FOUND naming the database', async () => {
    const error = await failure(server.url('no_such_db'), step);
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain('database "no_such_db" does not exist');
    expect(error.message).not.toContain(server.password);
  });

  it('a URL that is not postgresql:// is a USAGE error', async () => {
    const error = await failure('mysql://root:pw@localhost/app', step);
    expect(error.code).toBe('USAGE');
    expect(error.message).not.toContain(':pw@');
  });
});

describe('permissions', () => {
  it('a user who cannot read a table gets an error that says which and what to do', async () => {
    await server.admin.query("CREATE ROLE limited LOGIN PASSWORD 'limited-pw'");
    const url = await server.admin.createDatabase('guarded');
    await server.admin.exec(
      'guarded',
      'CREATE TABLE open_data (id integer); CREATE TABLE secret (id integer);',
    );
    await server.admin.exec('guarded', 'GRANT SELECT ON open_data TO limited');
    const limitedUrl = url.replace(`postgres:${server.password}@`, 'limited:limited-pw@');
    const error = await failure(limitedUrl, 'backup');
    expect(error.code).toBe('IO');
    expect(error.message).toContain('permission denied for table secret');
    expect(error.hint).toMatch(/--exclude-tables/);
    expect(error.message).not.toContain('limited-pw');
    const source = await postgres.create({ db: limitedUrl, ...defaults, excludeTables: ['secret'] });
    const chunks: Buffer[] = [];
    for await (const artifact of source.backup(createTestContext()))
      for await (const chunk of artifact.stream) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toContain('COPY public.open_data (id) FROM stdin;');
  });
});
