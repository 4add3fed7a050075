// The sample service's database on an embedded PostgreSQL 15 (the major of the machine's pg_dump, so
// the shell pipeline runs as operators run it), seeded to a target size of dump text.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { startPostgres } from '@nexus-backup/testkit/postgres';

const run = promisify(execFile);
const TABLES = [
  'api_requests',
  'streaming_chunks',
  'conversation_analyses',
  'analysis_audit_log',
  'daily_usage',
];

/** Dump text per request with its 8 chunks, analyses and audit rows, measured with pg_dump 15 (5000 requests). */
const DUMP_BYTES_PER_REQUEST = 2100;
const DATABASE = 'proxy';
const CLOCK_TICKS = 100; // USER_HZ: /proc times are in 1/100 s on Linux

export async function startSampleDatabase(root) {
  // Enough shared buffers and WAL room that a bulk load does not checkpoint every few seconds.
  const server = await startPostgres({
    major: 15,
    settings: { shared_buffers: '128MB', max_wal_size: '2GB' },
  });
  let postmaster;
  const service = join(root, 'examples/sample-service');
  const schema = await readFile(join(service, 'schema.sql'), 'utf8');
  const seed = await readFile(join(service, 'seed.sql'), 'utf8');

  return {
    server,
    database: DATABASE,
    sourceUrl: server.url(DATABASE),
    /** (Re)creates the database with about `megabytes` MB (1e6 bytes) of dump text. */
    async seed(megabytes) {
      const requests = Math.ceil((megabytes * 1e6) / DUMP_BYTES_PER_REQUEST);
      await server.admin.dropDatabase(DATABASE);
      await server.admin.createDatabase(DATABASE);
      await server.admin.exec(DATABASE, schema);
      await server.admin.exec(DATABASE, seed);
      await server.admin.exec(DATABASE, bulkSeed(requests));
      await server.admin.exec(DATABASE, 'VACUUM ANALYZE'); // fresh statistics, like a live database
    },
    /** Row counts of every table, to check that both restores hold what the source holds. */
    async rowCounts(database = DATABASE) {
      const query = `SELECT ${TABLES.map((table) => `(SELECT count(*) FROM ${table})`).join(', ')}`;
      const { stdout } = await run('psql', ['-X', '-A', '-t', '-F', ' ', '-c', query, '-d', database], {
        env: { ...process.env, ...libpqEnv(server) },
      });
      return Object.fromEntries(
        stdout
          .trim()
          .split(' ')
          .map((n, i) => [TABLES[i], Number(n)]),
      );
    },
    /**
     * CPU seconds the whole server has used so far: the postmaster, its live processes, and (through
     * the postmaster's cutime/cstime) every backend that has exited. A delta around a run is the server
     * side of that run's work, which the client processes' own CPU time does not show.
     */
    async serverCpuSeconds() {
      postmaster ??= await postmasterPid(server);
      await sleep(200); // let the postmaster reap the backend of a client that just disconnected
      const ticks = async (pid, withChildren) => {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        const fields = stat
          .slice(stat.lastIndexOf(')') + 2)
          .split(' ')
          .map(Number);
        // after the command name: state ppid ... utime(12) stime(13) cutime(14) cstime(15), 1-based from state
        const own = (fields[11] ?? 0) + (fields[12] ?? 0);
        return withChildren ? own + (fields[13] ?? 0) + (fields[14] ?? 0) : own;
      };
      let total = await ticks(postmaster, true);
      const children = await readFile(`/proc/${postmaster}/task/${postmaster}/children`, 'utf8').catch(
        () => '',
      );
      for (const pid of children.trim().split(/\s+/).filter(Boolean)) total += await ticks(pid, false);
      return total / CLOCK_TICKS;
    },
    stop: () => server.stop(),
  };
}

/** The server's address and password for libpq programs (pg_dump, psql, createdb), never in argv. */
export function libpqEnv(server) {
  return {
    PGHOST: server.host,
    PGPORT: String(server.port),
    PGUSER: server.user,
    PGPASSWORD: server.password,
  };
}

/** The postmaster's pid, the first line of postmaster.pid in the data directory. */
async function postmasterPid(server) {
  const { rows } = await server.admin.query("SELECT setting FROM pg_settings WHERE name = 'data_directory'");
  return Number((await readFile(join(rows[0].setting, 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

/**
 * Seeds like `SELECT seed_sample_service(n)`, but the way a bulk load goes fast: keys and indexes are
 * dropped first and built again afterwards (a sort instead of millions of random inserts into btrees
 * and a GIN index), and replica mode skips the per-row foreign key triggers. The schema ends up the
 * same, names included. One session, since the saved definitions live in a temp table.
 */
function bulkSeed(requests) {
  return `
SET session_replication_role = replica;
CREATE TEMP TABLE bench_ddl AS
  SELECT CASE contype WHEN 'f' THEN 2 ELSE 1 END AS step, contype <> 'f' AS keep_last,
         format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname) AS drop_sql,
         format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) AS create_sql
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype IN ('p', 'u', 'f')
  UNION ALL
  SELECT 3, false, format('DROP INDEX %I.%I', schemaname, indexname), indexdef
    FROM pg_indexes i WHERE schemaname = 'public'
     AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.connamespace = 'public'::regnamespace);
DO $$ DECLARE d record; BEGIN
  FOR d IN SELECT drop_sql FROM bench_ddl ORDER BY keep_last, step DESC LOOP EXECUTE d.drop_sql; END LOOP;
END $$;
SELECT seed_sample_service(${requests}, 8);
DO $$ DECLARE d record; BEGIN
  FOR d IN SELECT create_sql FROM bench_ddl ORDER BY step LOOP EXECUTE d.create_sql; END LOOP;
END $$;
DROP TABLE bench_ddl;
RESET session_replication_role;`;
}
