import { execFile } from 'node:child_process';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { PostgresServer } from '@nexus-backup/testkit/postgres';
import pg from 'pg';

const run = promisify(execFile);

/** A source database with the things a SQL reader trips over: quoting, dollar quotes, COPY escapes. */
export const SOURCE_SQL = String.raw`
CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy; really');
CREATE DOMAIN app.positive AS integer CHECK (VALUE > 0);
CREATE TABLE app.people (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  mood app.mood,
  score app.positive,
  note text,
  body jsonb,
  blob bytea,
  tags text[]
);
CREATE TABLE app.pets (id serial PRIMARY KEY, owner integer REFERENCES app.people (id), name text);
CREATE TABLE app.bulk (id bigint PRIMARY KEY, payload text);
CREATE FUNCTION app.shout(t text) RETURNS text LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN upper(t) || $$;$$ || E'\\';
END
$fn$;
CREATE FUNCTION app.add(a integer, b integer) RETURNS integer LANGUAGE sql
BEGIN ATOMIC
  SELECT a + b;
END;
CREATE VIEW app.loud AS SELECT id, app.shout(name) AS name FROM app.people;
CREATE RULE loud_insert AS ON INSERT TO app.loud DO INSTEAD (
  INSERT INTO app.people (name) VALUES (new.name); INSERT INTO app.pets (name) VALUES ('by rule');
);
CREATE MATERIALIZED VIEW app.mood_counts AS SELECT mood, count(*) AS n FROM app.people GROUP BY mood;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := coalesce(NEW.note, ''); RETURN NEW; END $$;
CREATE TRIGGER people_touch BEFORE UPDATE ON app.people FOR EACH ROW EXECUTE FUNCTION app.touch();
COMMENT ON TABLE app.people IS 'semi;colon ''quoted'' $$dollar$$ -- not a comment /* nor this */';
INSERT INTO app.people (name, mood, score, note, body, blob, tags) VALUES
  (E'back\\slash', 'ok', 1, E'\\.', '{"a": "x;y", "b": [1, 2]}', '\x00ff5c2e0a', ARRAY['a', NULL, 'c,d']),
  (E'tab\there', 'happy; really', 2, E'line\n\\.\nafter', '{}', '', '{}'),
  ('żółw ✓ 🐢', NULL, NULL, '', NULL, NULL, NULL),
  ('plain', 'sad', 3, NULL, '"\\."', E'\\x5c2e', ARRAY[E'\\.']);
INSERT INTO app.pets (owner, name) SELECT id, name || ' pet' FROM app.people;
INSERT INTO app.bulk SELECT g, repeat(md5(g::text), 3) || E'\t\\' FROM generate_series(1, 20000) AS g;
REFRESH MATERIALIZED VIEW app.mood_counts;
`;

export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Runs the machine's pg_dump (plain format) against a database; `extra` adds flags. */
export async function pgDump(url: string, extra: string[] = []): Promise<string> {
  const { stdout } = await run('pg_dump', ['--no-owner', '--no-privileges', ...extra, `--dbname=${url}`], {
    maxBuffer: 256 * 1024 * 1024,
  });
  return stdout;
}

/** pg_dump output without what differs between two dumps of the same content (the \restrict key). */
export function comparableDump(dump: string): string {
  return dump.replace(/^\\(un)?restrict \S+$/gm, '\\$1restrict KEY');
}

/** User tables, views and functions of a database: zero for an untouched empty database. */
export async function countUserObjects(url: string): Promise<number> {
  return withClient(url, async (client) => {
    const result = await client.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast')
            + (SELECT count(*) FROM pg_namespace WHERE nspname NOT IN ('public', 'information_schema') AND nspname !~ '^pg_')
            + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')) AS n`,
    );
    return Number(result.rows[0]?.n);
  });
}

export async function databaseExists(server: PostgresServer, name: string): Promise<boolean> {
  const result = await server.admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return result.rowCount === 1;
}

/** A readable of `text` in chunks of `size` bytes. */
export function chunked(text: string | Buffer, size: number): Readable {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  return Readable.from(
    (function* () {
      for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
    })(),
    { objectMode: false },
  );
}
