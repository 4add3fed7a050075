import { type PostgresServer, startPostgres } from '@nexus-backup/testkit/postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countObjectsByKind } from '../src/dump/object-counts.js';
import { recordObjectCounts } from '../src/dump/object-counts-meta.js';

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
});

afterAll(async () => {
  await server?.stop();
});

async function countsOf(database: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: server.url(database) });
  await client.connect();
  try {
    return await countObjectsByKind(client);
  } finally {
    await client.end();
  }
}

describe('object counts by kind', () => {
  it('counts nothing in a fresh database, so every counted object is one the user made', async () => {
    await server.admin.createDatabase('fresh');
    expect(await countsOf('fresh')).toEqual({});
  });

  it('counts user objects by kind and leaves out extension members and temp tables', async () => {
    await server.admin.createDatabase('shop');
    await server.admin.exec(
      'shop',
      `CREATE SCHEMA app;
       CREATE TYPE app.mood AS ENUM ('ok', 'sad');
       CREATE TABLE app.orders (id serial PRIMARY KEY, note text CHECK (note <> ''), mood app.mood);
       CREATE INDEX orders_note ON app.orders (note);
       CREATE VIEW app.recent AS SELECT id FROM app.orders;
       CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
       CREATE TRIGGER orders_touch BEFORE INSERT ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch();
       CREATE EXTENSION pg_trgm;
       CREATE TEXT SEARCH CONFIGURATION app.english_copy (COPY = pg_catalog.english);
       CREATE TEMP TABLE scratch (id int);`,
    );
    const counts = await countsOf('shop');
    expect(counts).toMatchObject({
      schema: 1,
      'enum type': 1,
      'enum label': 2,
      table: 1,
      sequence: 1,
      view: 1,
      function: 1,
      trigger: 1,
      extension: 1,
      'primary key': 1,
      'check constraint': 1,
      'column default': 1,
      'text search configuration': 1,
    });
    // The primary key's index and orders_note; pg_trgm's own functions and opclasses are not counted.
    expect(counts.index).toBe(2);
    expect(counts['operator class']).toBeUndefined();
  });

  it('records default privileges only for a dump with privileges, and no counts for a dump of selected tables', async () => {
    await server.admin.createDatabase('grants');
    await server.admin.exec(
      'grants',
      'CREATE TABLE t (id int); ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC;',
    );
    const client = new pg.Client({ connectionString: server.url('grants') });
    await client.connect();
    try {
      expect(await recordObjectCounts(client, { privileges: true })).toEqual({
        objects: { 'default privileges': 1, 'row type': 1, 'base or array type': 1, table: 1 },
      });
      expect(await recordObjectCounts(client, {})).toEqual({
        objects: { 'row type': 1, 'base or array type': 1, table: 1 },
      });
      expect(await recordObjectCounts(client, { tables: ['t'] })).toEqual({
        objectsNotCounted: 'the dump holds selected tables only',
      });
    } finally {
      await client.end();
    }
  });
});
