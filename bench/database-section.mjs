// Sections 1-3 of `pnpm bench`: backup and restore of the sample database, ours against the pipelines a
// user would pick instead (issue 16's anchors and targets), peak RSS by data size and jobs, and a CPU
// profile of one backup and one restore with the server's side sampled beside it.
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { databaseBench } from './database.mjs';
import { printProfile, summariseProfile } from './profile.mjs';
import { megabytes, mib, printTable, ratio, seconds } from './report.mjs';
import { startSampleDatabase } from './sample-database.mjs';
import { phaseTotals, printServerActivity } from './server-activity.mjs';

const run = promisify(execFile);

/** Issue 16's targets: wall (or size, RSS) of ours divided by the anchor's, at most this. */
const TARGETS = { guide: 0.5, pigz: 0.8, psql: 0.7, pgRestore: 1.0, gzipSize: 1.1, rssGrowth: 1.1 };

/**
 * @param {{ root: string, work: string, jobs: number, kdfLabel: string, progress: (m: string) => void,
 *   config: { dbMB: number, smallMB: number, bigMB?: number, dbRounds: number, profile: boolean,
 *   profileDir?: string, memoryOnly?: boolean } }} options
 * @returns {Promise<string | undefined>} the plain `.sql.gz` of pg_dump's dump (the transforms section
 *   reads it); none with `memoryOnly`
 */
export async function databaseSection({ root, work, jobs, kdfLabel, progress, config }) {
  const cli = join(root, 'apps/cli/bin/nexus-backup.js');
  // The parallel dump (`backup postgres --jobs`) may not be built yet: then our backup rows run as
  // the CLI does by default and say so.
  const backupHasJobs = await cliHasOption(cli, ['backup', 'postgres'], '--jobs');
  const backupJobs = (n) => (backupHasJobs ? ['--jobs', String(n)] : []);
  const jobsNote = (n) => (backupHasJobs ? ` --jobs ${n}` : '');
  if (!backupHasJobs)
    console.log('`backup postgres` has no --jobs in this build: our backups dump on one connection');

  const db = await startSampleDatabase(root);
  try {
    const bench = databaseBench({ root, work, db });
    const memory = [];
    /**
     * Our backup and restore at the seeded size: the default KDF with N jobs, then scrypt 2^14 (its
     * one-off 16 MiB instead of 128 MiB) with 1 and N jobs, so what is left is streaming memory and
     * the difference is what one more job holds. `reuse` is an already measured default-KDF pair.
     */
    const measureMemory = async (size, reuse) => {
      const configs = [
        { label: `${kdfLabel}, jobs ${jobs}`, args: backupJobs(jobs), restoreJobs: jobs, reuse },
        {
          label: 'scrypt 2^14, jobs 1',
          args: ['--encrypt-scrypt-log-n', '14', ...backupJobs(1)],
          restoreJobs: 1,
        },
        {
          label: `scrypt 2^14, jobs ${jobs}`,
          args: ['--encrypt-scrypt-log-n', '14', ...backupJobs(jobs)],
          restoreJobs: jobs,
        },
      ];
      for (const [index, { label, args, restoreJobs, reuse: measured }] of configs.entries()) {
        if (measured) {
          memory.push({ size, label, ...measured });
          continue;
        }
        progress(`memory at ${size}: our backup and restore, ${label}`);
        const backup = await bench.oursBackup(`memory-${index}`, args);
        const restore = await bench.oursRestore(backup.repo, `restored_memory_${index}`, [
          '--jobs',
          String(restoreJobs),
        ]);
        await bench.dropRestored();
        memory.push({ size, label, backup, restore, rawBytes: backup.rawBytes });
      }
    };

    if (config.smallMB < config.dbMB || config.memoryOnly) {
      progress(`seeding the sample database to about ${config.smallMB} MB of dump text`);
      await db.seed(config.smallMB);
      await measureMemory(`${config.smallMB} MB`);
      if (config.profile && !config.memoryOnly)
        await profileOneOfEach({ bench, work, jobs, backupJobs, config, progress });
    }

    if (config.memoryOnly) {
      // BENCH_ONLY=memory: the peak RSS rows alone, at the small and (BENCH_BIG=1) the big size.
      if (config.bigMB) {
        progress(`seeding the sample database to about ${config.bigMB} MB of dump text (BENCH_BIG)`);
        await db.seed(config.bigMB);
        await measureMemory(`${config.bigMB} MB`);
      }
      printMemory(memory, jobs);
      return undefined;
    }

    progress(`seeding the sample database to about ${config.dbMB} MB of dump text`);
    await db.seed(config.dbMB);
    const source = await db.rowCounts();
    const anchors = await runAnchors({
      bench,
      jobs,
      backupJobs,
      jobsNote,
      rounds: config.dbRounds,
      progress,
    });
    printAnchors(anchors, { jobs, rounds: config.dbRounds, source });
    const byKey = (rows, key) => rows.find((row) => row.key === key)?.best;
    const oursDefault = byKey(anchors.backups, 'default');
    await measureMemory(`${config.dbMB} MB`, {
      backup: oursDefault,
      restore: byKey(anchors.restores, 'oursN'),
      rawBytes: oursDefault.rawBytes,
    });

    if (config.bigMB) {
      progress(`seeding the sample database to about ${config.bigMB} MB of dump text (BENCH_BIG)`);
      await db.seed(config.bigMB);
      await measureMemory(`${config.bigMB} MB`);
    }
    const growth = printMemory(memory, jobs);
    printTargets(anchors, growth, jobs);
    return anchors.plainGz;
  } finally {
    await db.stop();
  }
}

/**
 * Every backup row, then every restore row, `rounds` times; a row's best run (least wall) counts.
 * Theirs first within a round, so neither side always runs on a warmer cache.
 */
async function runAnchors({ bench, jobs, backupJobs, jobsNote, rounds, progress }) {
  const has = { pigz: await hasProgram('pigz'), zstd: await hasProgram('zstd') };
  const backups = [
    {
      key: 'guide',
      what: 'pg_dump | gzip -6 | openssl enc (the guide)',
      run: () => bench.shellBackup('guide'),
    },
    { key: 'floor', what: 'pg_dump > /dev/null (the floor)', run: () => bench.dumpOnly() },
    has.pigz && {
      key: 'pigz',
      what: 'pg_dump | pigz -6 | openssl enc',
      run: () => bench.shellBackup('pigz', ['pigz', '-6']),
    },
    has.zstd && {
      key: 'zstd',
      what: 'pg_dump | zstd -3 -T2 | openssl enc',
      run: () => bench.shellBackup('zstd', ['zstd', '-3', '-T2']),
    },
    { key: 'dir', what: `pg_dump -Fd -j ${jobs} (no encryption)`, run: () => bench.dirBackup('full', jobs) },
    {
      key: 'default',
      what: `ours --encrypt${jobsNote(jobs)} (default compression)`,
      run: () => bench.oursBackup('default', backupJobs(jobs)),
    },
    backupJobs(1).length > 0 && {
      key: 'default1',
      what: 'ours --encrypt --jobs 1 (default compression)',
      run: () => bench.oursBackup('default-jobs1', backupJobs(1)),
    },
    {
      key: 'gzip',
      what: `ours --gzip=6 --encrypt${jobsNote(jobs)}`,
      run: () => bench.oursBackup('gzip', ['--gzip=6', ...backupJobs(jobs)]),
    },
    {
      key: 'none',
      what: `ours --no-zstd --no-gzip --encrypt${jobsNote(jobs)} (our floor)`,
      run: () => bench.oursBackup('uncompressed', ['--no-zstd', '--no-gzip', ...backupJobs(jobs)]),
    },
  ].filter(Boolean);
  if (!has.pigz) console.log('pigz is not installed (apt-get install -y pigz): its row is left out');

  let plain;
  const latest = {};
  const restores = [
    {
      key: 'psql',
      what: 'createdb && gunzip -c | psql',
      run: () => bench.shellRestore(plain.gz, 'restored_psql'),
    },
    {
      key: 'pgRestore',
      what: `createdb && pg_restore -j ${jobs}`,
      run: () => bench.dirRestore(latest.dir.dir, 'restored_pg_restore', jobs),
    },
    {
      key: 'ours1',
      what: 'ours --create-db --jobs 1',
      run: () => bench.oursRestore(latest.default.repo, 'restored_ours_1', ['--jobs', '1']),
    },
    {
      key: 'oursN',
      what: `ours --create-db --jobs ${jobs}`,
      run: () => bench.oursRestore(latest.default.repo, 'restored_ours_n', ['--jobs', String(jobs)]),
    },
    {
      key: 'gzipN',
      what: `ours --create-db --jobs ${jobs} (the --gzip=6 backup)`,
      run: () => bench.oursRestore(latest.gzip.repo, 'restored_ours_gzip', ['--jobs', String(jobs)]),
    },
  ];

  const uptime = [];
  for (let round = 1; round <= rounds; round++) {
    uptime.push(await loadAverage());
    for (const row of backups) {
      progress(`round ${round}/${rounds} backup: ${row.what}`);
      const result = await row.run();
      latest[row.key] = result;
      keepBest(row, result);
    }
    plain ??= await bench.plainGzipOf(latest.guide.file);
    for (const row of restores) {
      progress(`round ${round}/${rounds} restore: ${row.what}`);
      const result = await row.run();
      await bench.dropRestored();
      row.counts = result.counts; // every round restores the same rows; the check reads the last
      keepBest(row, result);
    }
  }
  uptime.push(await loadAverage());
  return { backups, restores, plainGz: plain.gz, plainBytes: plain.rawBytes, uptime };
}

function keepBest(row, result) {
  row.walls = [...(row.walls ?? []), result.wall];
  if (!row.best || result.wall < row.best.wall) row.best = result;
}

function printAnchors({ backups, restores, plainBytes, uptime }, { jobs, rounds, source }) {
  const best = (rows, key) => rows.find((row) => row.key === key)?.best;
  const guide = best(backups, 'guide');
  const pigz = best(backups, 'pigz');
  const oursDefault = best(backups, 'default');
  const walls = (row) => row.walls.map((wall) => wall.toFixed(1)).join(' / ');
  console.log(
    `\n1-2. Sample database, PostgreSQL 15: our dump ${megabytes(oursDefault.rawBytes)} of SQL text, ` +
      `pg_dump's ${megabytes(plainBytes)}; best of ${rounds} round(s), load average (1 min) ${uptime.map((l) => l.toFixed(1)).join(' -> ')} over the rounds`,
  );
  printTable(
    "1b. Backup pipelines side by side (wall/guide, wall/pigz: best wall divided by those rows' best; " +
      `size/gzip-6: stored bytes divided by the guide's). Targets: default <= ${TARGETS.guide}x guide, ` +
      `<= ${TARGETS.pigz}x pigz, size <= ${TARGETS.gzipSize}x`,
    [
      'pipeline',
      'wall',
      'rounds (s)',
      'CPU',
      'srv CPU',
      'RSS',
      'stored',
      'wall/guide',
      'wall/pigz',
      'size/gzip-6',
    ],
    backups.map((row) => [
      row.what,
      seconds(row.best.wall),
      walls(row),
      seconds(row.best.cpu),
      seconds(row.best.serverCpu),
      mib(row.best.rssMiB),
      row.best.storedBytes === undefined ? 'n/a' : megabytes(row.best.storedBytes),
      ratio(row.best.wall, guide?.wall),
      ratio(row.best.wall, pigz?.wall),
      ratio(row.best.storedBytes, guide?.storedBytes),
    ]),
  );
  console.log(
    `our default backup's transforms: ${oursDefault.manifest.transforms.map((t) => `${t.provider}${JSON.stringify(t.params)}`).join(' -> ')}; ` +
      `${oursDefault.manifest.artifacts.length} artifact(s): ${oursDefault.manifest.artifacts.map((a) => a.name).join(', ')}`,
  );
  const psql = best(restores, 'psql');
  const pgRestore = best(restores, 'pgRestore');
  printTable(
    `2b. Restore into a new database side by side (wall divided by gunzip | psql's and by pg_restore -j ${jobs}'s). ` +
      `Targets: ours <= ${TARGETS.psql}x psql, <= ${TARGETS.pgRestore}x pg_restore -j ${jobs}`,
    ['pipeline', 'wall', 'rounds (s)', 'CPU', 'srv CPU', 'RSS', 'wall/psql', `wall/pg_restore -j ${jobs}`],
    restores.map((row) => [
      row.what,
      seconds(row.best.wall),
      walls(row),
      seconds(row.best.cpu),
      seconds(row.best.serverCpu),
      mib(row.best.rssMiB),
      ratio(row.best.wall, psql?.wall),
      ratio(row.best.wall, pgRestore?.wall),
    ]),
  );
  printServerSides(backups, restores);
  for (const row of restores) {
    const same = JSON.stringify(row.counts) === JSON.stringify(source);
    console.log(
      `rows restored by ${row.what} ${same ? 'match' : 'DIFFER FROM'} the source: ${JSON.stringify(row.counts)}`,
    );
  }
}

/**
 * Tables 1c and 2c: what the server's backends did during each row's best run. COPY "waiting" is a
 * backend blocked on the client (ClientWrite: the client reads slower than the server writes;
 * ClientRead: the client sends slower than the server loads).
 */
function printServerSides(backups, restores) {
  const s = (value) => `${value.toFixed(1)} s`;
  const span = (range) => (range ? `${range[0].toFixed(1)}-${range[1].toFixed(1)} s` : '-');
  printTable(
    '1c. Server side of each backup (best run; connection-seconds in each phase, from pg_stat_activity every 100 ms)',
    ['pipeline', 'COPY reading', 'COPY waiting for client', 'other SQL', 'idle in tx', 'COPY from-to'],
    backups.map((row) => {
      const t = phaseTotals(row.best.server);
      return [
        row.what,
        s(t.copyBusy),
        s(t.copyWaiting),
        s(t.other),
        s(t.idleInTransaction),
        span(t.copySpan),
      ];
    }),
  );
  printTable(
    '2c. Server side of each restore (best run; connection-seconds): loading rows, then building indexes and keys',
    [
      'pipeline',
      'COPY loading',
      'COPY waiting for client',
      'index, PK, unique',
      'FK checks',
      'other SQL',
      'idle in tx',
      'COPY from-to',
      'builds from-to',
      'own phases pre/data/post',
    ],
    restores.map((row) => {
      const t = phaseTotals(row.best.server);
      return [
        row.what,
        s(t.copyBusy),
        s(t.copyWaiting),
        s(t.indexes),
        s(t.foreignKeys),
        s(t.other),
        s(t.idleInTransaction),
        span(t.copySpan),
        span(t.buildSpan),
        ownPhases(row.best.phases),
      ];
    }),
  );
}

/** The restore report's own phase times (`--json` details.phases), when the CLI gives them. */
function ownPhases(phases) {
  if (!phases) return '-';
  const s = (ms) => (ms / 1000).toFixed(1);
  const during = phases.startedDuringData ? ` (${phases.startedDuringData} builds during data)` : '';
  return `${s(phases.preDataMs)} / ${s(phases.dataMs)} / ${s(phases.postDataMs)} s${during}`;
}

/**
 * Section 3; returns the largest growth of peak RSS from the smallest size to the largest, of all rows
 * and of the default rows (the default KDF and jobs: what an operator runs).
 */
function printMemory(memory, jobs) {
  const sizes = [...new Set(memory.map((row) => row.size))];
  const labels = [...new Set(memory.map((row) => row.label))];
  const cell = (size, label, side) => memory.find((row) => row.size === size && row.label === label)?.[side];
  printTable(
    '3. Peak RSS of our backup and restore processes by dump size (must not grow with the data)',
    ['KDF, jobs', ...sizes.map((size) => `backup ${size}`), ...sizes.map((size) => `restore ${size}`)],
    labels.map((label) => [
      label,
      ...sizes.map((size) => mib(cell(size, label, 'backup')?.rssMiB)),
      ...sizes.map((size) => mib(cell(size, label, 'restore')?.rssMiB)),
    ]),
  );
  const cheap = (jobsOf) => labels.find((label) => label === `scrypt 2^14, jobs ${jobsOf}`);
  for (const size of sizes) {
    const one = cheap(1);
    const many = cheap(jobs);
    if (jobs < 2 || !one || !many) continue;
    const perJob = (side) =>
      ((cell(size, many, side)?.rssMiB ?? Number.NaN) - (cell(size, one, side)?.rssMiB ?? Number.NaN)) /
      (jobs - 1);
    console.log(
      `streaming memory per extra job at ${size} (scrypt 2^14, jobs ${jobs} minus jobs 1, / ${jobs - 1}): ` +
        `backup ${mib(perJob('backup'))}, restore ${mib(perJob('restore'))}`,
    );
  }
  const withDefaultKdf = labels.find((label) => label.endsWith(`(default), jobs ${jobs}`));
  const withCheapKdf = cheap(jobs);
  for (const size of sizes) {
    if (!withDefaultKdf || !withCheapKdf) continue;
    const kdf = (side) =>
      (cell(size, withDefaultKdf, side)?.rssMiB ?? Number.NaN) -
      (cell(size, withCheapKdf, side)?.rssMiB ?? Number.NaN);
    console.log(
      `the default KDF's one-off memory at ${size} (default minus scrypt 2^14, jobs ${jobs}): ` +
        `backup ${mib(kdf('backup'))}, restore ${mib(kdf('restore'))}`,
    );
  }
  // Time to the first COPY: the CLI's start, the KDF and the catalog reads, all before any row moves.
  for (const size of sizes) {
    const firstCopy = (label) => {
      const span = phaseTotals(cell(size, label, 'backup')?.server ?? { phases: [] }).copySpan;
      return span ? `${span[0].toFixed(1)} s` : 'n/a';
    };
    console.log(
      `our backup's first COPY at ${size} (seconds from the sampler's start, ~0.25 s before the spawn): ` +
        labels.map((label) => `${firstCopy(label)} (${label})`).join(', '),
    );
  }
  const [first, last] = [sizes[0], sizes.at(-1)];
  const largestGrowth = (rows) => {
    let growth = 0;
    for (const label of rows) {
      for (const side of ['backup', 'restore']) {
        const grew =
          (cell(last, label, side)?.rssMiB ?? 0) / (cell(first, label, side)?.rssMiB ?? Number.NaN);
        if (Number.isFinite(grew)) growth = Math.max(growth, grew);
      }
    }
    return growth;
  };
  const growth = largestGrowth(labels);
  const defaultGrowth = withDefaultKdf ? largestGrowth([withDefaultKdf]) : Number.NaN;
  console.log(
    `largest growth of a row's peak RSS from ${first} to ${last}: ${growth.toFixed(2)}x ` +
      `(the default rows: ${defaultGrowth.toFixed(2)}x)`,
  );
  return { growth, defaultGrowth, from: first, to: last };
}

function printTargets({ backups, restores }, memory, jobs) {
  const best = (rows, key) => rows.find((row) => row.key === key)?.best;
  const oursBackup = best(backups, 'default');
  const oursRestore = best(restores, 'oursN');
  const lines = [
    [
      'backup, default pipeline / the guide (wall)',
      oursBackup.wall,
      best(backups, 'guide')?.wall,
      TARGETS.guide,
    ],
    ['backup, default pipeline / pigz (wall)', oursBackup.wall, best(backups, 'pigz')?.wall, TARGETS.pigz],
    [
      `restore --jobs ${jobs} / gunzip | psql (wall)`,
      oursRestore.wall,
      best(restores, 'psql')?.wall,
      TARGETS.psql,
    ],
    [
      `restore --jobs ${jobs} / pg_restore -j ${jobs} (wall)`,
      oursRestore.wall,
      best(restores, 'pgRestore')?.wall,
      TARGETS.pgRestore,
    ],
    [
      'stored size, default pipeline / gzip -6',
      oursBackup.storedBytes,
      best(backups, 'guide')?.storedBytes,
      TARGETS.gzipSize,
    ],
    [
      `peak RSS ${memory.to} / ${memory.from}, default backup and restore`,
      memory.defaultGrowth,
      1,
      TARGETS.rssGrowth,
    ],
    [`peak RSS ${memory.to} / ${memory.from} (largest of all rows)`, memory.growth, 1, TARGETS.rssGrowth],
  ];
  printTable(
    'Issue 16 targets, this run',
    ['measure', 'ratio', 'target', ''],
    lines.map(([what, ours, theirs, target]) => {
      const value = theirs ? ours / theirs : undefined;
      return [
        what,
        ratio(ours, theirs),
        `<= ${target.toFixed(2)}x`,
        value === undefined || !Number.isFinite(value) ? 'n/a' : value <= target ? 'met' : 'not met',
      ];
    }),
  );
}

/**
 * Section 4 (at the small size): one default backup and one `--jobs N` restore under `node --cpu-prof`,
 * the server's backends sampled meanwhile; prints where the CLI's main thread spent its time and what the
 * server was doing. The process's CPU time beyond the main thread's busy time ran on other threads
 * (zstd and zlib in libuv's pool, GC helper threads).
 */
async function profileOneOfEach({ bench, work, jobs, backupJobs, config, progress }) {
  const base = config.profileDir ?? join(work, 'profiles');
  const observe = async (what, runIt) => {
    const profileDir = join(base, what);
    await mkdir(profileDir, { recursive: true });
    progress(`profiling our ${what} (node --cpu-prof, pg_stat_activity sampled)`);
    const result = await runIt({ profileDir });
    const files = (await readdir(profileDir)).filter((name) => name.endsWith('.cpuprofile'));
    // The CLI's main thread is the largest profile (worker threads, if any, write their own).
    const summaries = await Promise.all(
      files.map(async (name) => summariseProfile(JSON.parse(await readFile(join(profileDir, name), 'utf8')))),
    );
    const main = summaries.sort((a, b) => b.wallMs - a.wallMs)[0];
    const title = `3b. CPU profile of our ${what}`;
    console.log(
      `\n${title}: wall ${seconds(result.wall)}, process CPU ${seconds(result.cpu)} ` +
        `(main thread busy ${seconds(main.busyMs / 1000)}, so about ` +
        `${seconds(Math.max(result.cpu - main.busyMs / 1000, 0))} ran on other threads: compression in libuv's pool, ` +
        `GC helpers), server CPU ${seconds(result.serverCpu)}; profiles in ${profileDir}`,
    );
    printProfile(title, main);
    printServerActivity(`3b. Server side of our ${what}`, result.server);
    if (result.phases)
      console.log(`the restore's own phase times, pre-data / data / post-data: ${ownPhases(result.phases)}`);
    return result;
  };
  const backup = await observe('backup', (options) =>
    bench.oursBackup('profiled', backupJobs(jobs), options),
  );
  await observe('restore', (options) =>
    bench.oursRestore(backup.repo, 'restored_profiled', ['--jobs', String(jobs)], options),
  );
  await bench.dropRestored();
}

async function cliHasOption(cli, command, option) {
  const { stdout } = await run('node', [cli, ...command, '--help']);
  return new RegExp(`^\\s+${option}\\b`, 'm').test(stdout);
}

async function hasProgram(name) {
  try {
    await run('which', [name]);
    return true;
  } catch {
    return false;
  }
}

async function loadAverage() {
  return Number((await readFile('/proc/loadavg', 'utf8')).split(' ')[0]);
}
