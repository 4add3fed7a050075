// Backup and restore of the sample database: the nexus-backup CLI against the shell pipelines
// operators run today, on the same server and the same data, one after the other in the same run.
import { execFile } from 'node:child_process';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { measure } from './measure.mjs';
import { libpqEnv } from './sample-database.mjs';
import { sampleServerActivity } from './server-activity.mjs';

const run = promisify(execFile);
const PASSPHRASE = 'bench passphrase - not a secret';

export function databaseBench({ root, work, db }) {
  const cli = join(root, 'apps/cli/bin/nexus-backup.js');
  const env = { ...libpqEnv(db.server), NEXUS_BACKUP_PASSPHRASE: PASSPHRASE, BENCH_PASSPHRASE: PASSPHRASE };
  const nexus = (...args) => ['node', cli, ...args];
  const restoredNames = [];
  /** A measurement plus the server's CPU time during it. */
  const measureWithServer = async (stages, options) => {
    const before = await db.serverCpuSeconds();
    const result = await measure(stages, options);
    return { ...result, serverCpu: (await db.serverCpuSeconds()) - before };
  };
  /**
   * `run()` with the server's activity sampled meanwhile (pg_stat_activity every 100 ms: which phase
   * each backend is in), for every row, so the server's side of each pipeline can be compared.
   */
  const observed = async (run) => {
    const sampler = await sampleServerActivity(db.server.url('postgres'));
    try {
      return { ...(await run()), server: await sampler.stop() };
    } catch (error) {
      await sampler.stop();
      throw error;
    }
  };

  return {
    /**
     * Our backup (postgres -> compression -> aes -> local) with `args` (compression and jobs flags; none:
     * the CLI's defaults); returns the measurement and the manifest. With `observe.profileDir`
     * the CLI writes a V8 CPU profile (`--cpu-prof`) there.
     */
    async oursBackup(label, args = [], observe = undefined) {
      const repo = join(work, `repo-${label}`);
      await rm(repo, { recursive: true, force: true });
      const result = await observed(() =>
        measureWithServer(
          [nexus('backup', 'postgres', '--encrypt', ...args, '--to', repo, '--pipeline', 'db')],
          {
            env: { ...env, DATABASE_URL: db.sourceUrl, ...profiled(observe) },
          },
        ),
      );
      const manifest = await readManifest(join(repo, 'db'));
      // Summed: a postgres backup may be stored as several artifacts (pre-data, data, post-data).
      const sum = (side) => manifest.artifacts.reduce((total, artifact) => total + artifact[side].bytes, 0);
      return { ...result, repo, rawBytes: sum('raw'), storedBytes: sum('stored'), manifest };
    },

    /** `pg_dump | <compressor> | openssl enc -aes-256-cbc -pbkdf2` into a file (gzip -6 unless named). */
    async shellBackup(label, compressor = ['gzip', '-6']) {
      const file = join(work, `shell-${label}.sql.${compressor[0]}.enc`);
      const result = await observed(() =>
        measureWithServer(
          [
            ['pg_dump', '-d', db.database],
            compressor,
            [
              'openssl',
              'enc',
              '-aes-256-cbc',
              '-pbkdf2',
              '-salt',
              '-pass',
              'env:BENCH_PASSPHRASE',
              '-out',
              file,
            ],
          ],
          { env },
        ),
      );
      return { ...result, file, storedBytes: (await stat(file)).size };
    },

    /** Decrypts the shell backup once, untimed, into the plain `.sql.gz` that psql is given. */
    async plainGzipOf(shellFile) {
      const gz = shellFile.replace(/\.enc$/, '');
      await run(
        'openssl',
        [
          'enc',
          '-d',
          '-aes-256-cbc',
          '-pbkdf2',
          '-pass',
          'env:BENCH_PASSPHRASE',
          '-in',
          shellFile,
          '-out',
          gz,
        ],
        {
          env: { ...process.env, ...env },
        },
      );
      // `gzip -l` reads the uncompressed size from the trailer (modulo 4 GiB).
      const { stdout } = await run('gzip', ['-l', gz]);
      const rawBytes = Number(stdout.trim().split('\n')[1].trim().split(/\s+/)[1]);
      return { gz, rawBytes };
    },

    /** `pg_dump > /dev/null`: what the server's COPY and pg_dump cost, the floor of every backup row. */
    async dumpOnly() {
      return {
        ...(await observed(() => measureWithServer([['pg_dump', '-d', db.database]], { env }))),
        storedBytes: undefined,
      };
    },

    /** `pg_dump -Fd -j <jobs> -f <dir>`: the directory format, one connection per table (no encryption). */
    async dirBackup(label, jobs) {
      const dir = join(work, `pg_dump-${label}.dir`);
      await rm(dir, { recursive: true, force: true });
      const result = await observed(() =>
        measureWithServer([['pg_dump', '-Fd', '-j', String(jobs), '-f', dir, '-d', db.database]], { env }),
      );
      return { ...result, dir, storedBytes: await folderBytes(dir) };
    },

    /** `createdb <name> && pg_restore -j <jobs> -d <name> <dir>`. */
    async dirRestore(dir, name, jobs) {
      restoredNames.push(name);
      await db.server.admin.dropDatabase(name);
      const result = await observed(() =>
        measureWithServer([['pg_restore', '--exit-on-error', '-j', String(jobs), '-d', name, dir]], {
          env,
          prelude: ['createdb', name],
        }),
      );
      return { ...result, counts: await db.rowCounts(name) };
    },

    /** `nexus-backup restore db@latest --from <repo> --create-db <name>` (decrypts, checks hashes). */
    async oursRestore(repo, name, args = [], observe = undefined) {
      restoredNames.push(name);
      await db.server.admin.dropDatabase(name);
      // --json: the report carries the restore's own timing per phase (pre-data, data, post-data).
      const report = join(work, `restore-${name}.json`);
      const result = await observed(() =>
        measureWithServer(
          [nexus('--json', 'restore', 'db@latest', '--from', repo, '--create-db', name, ...args)],
          { env: { ...env, DATABASE_URL: db.server.url('postgres'), ...profiled(observe) }, output: report },
        ),
      );
      const phases = findKey(await readFile(report, 'utf8').then(parseJson), 'phases');
      await rm(report, { force: true });
      return { ...result, phases, counts: await db.rowCounts(name) };
    },

    /** `createdb <name> && gunzip -c dump.sql.gz | psql -v ON_ERROR_STOP=1 -q -d <name>`. */
    async shellRestore(gz, name) {
      restoredNames.push(name);
      await db.server.admin.dropDatabase(name);
      const result = await observed(() =>
        measureWithServer(
          [
            ['gunzip', '-c', gz],
            ['psql', '-X', '-v', 'ON_ERROR_STOP=1', '-q', '-d', name],
          ],
          { env, prelude: ['createdb', name] },
        ),
      );
      return { ...result, counts: await db.rowCounts(name) };
    },

    /** Drops the restored copies so the next size does not share the disk cache with them. */
    async dropRestored() {
      for (const name of restoredNames.splice(0)) await db.server.admin.dropDatabase(name);
    },
  };
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // a CLI without --json output: no phases to show
  }
}

/** The first value under `key` anywhere in `value` (depth first). */
function findKey(value, key) {
  if (value === null || typeof value !== 'object') return undefined;
  if (key in value) return value[key];
  for (const child of Object.values(value)) {
    const found = findKey(child, key);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** NODE_OPTIONS that make the CLI write a V8 CPU profile into `observe.profileDir` when it exits. */
function profiled(observe) {
  return observe?.profileDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${observe.profileDir}` } : {};
}

async function folderBytes(dir) {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(join(dir, name))).size;
  return total;
}

async function readManifest(pipelineDir) {
  const [id] = (await readdir(pipelineDir)).sort().reverse();
  return JSON.parse(await readFile(join(pipelineDir, id, 'manifest.json'), 'utf8'));
}
