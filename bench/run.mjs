// `pnpm bench`: nexus-backup against the shell pipelines operators run today, same data, same run.
// Prints tables only; no thresholds (the machine is shared, numbers move). See bench/README.md.
//   BENCH_DB_MB=500      dump text of the sample database for the backup/restore comparison
//   BENCH_SMALL_MB=100   the smaller size at which our peak RSS is measured too (memory must stay flat)
//   BENCH_QUICK=1        smoke run: 50 MB database, 10 MB small size, smaller transform/transfer data
//   BENCH_ONLY=database,transforms,sftp,s3,wal   run only these sections
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { databaseBench } from './database.mjs';
import { canMeasureMemory } from './measure.mjs';
import {
  comparisonHeader,
  comparisonRow,
  MB,
  megabytes,
  mib,
  percent,
  printTable,
  ratio,
  seconds,
} from './report.mjs';
import { startSampleDatabase } from './sample-database.mjs';
import { s3Bench, sftpBench, writePayload } from './transfer.mjs';
import { transformsBench } from './transforms.mjs';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
const quick = process.env.BENCH_QUICK === '1';
const config = {
  dbMB: Number(process.env.BENCH_DB_MB ?? (quick ? 50 : 500)),
  smallMB: Number(process.env.BENCH_SMALL_MB ?? (quick ? 10 : 100)),
  transformMB: Number(process.env.BENCH_TRANSFORM_MB ?? (quick ? 64 : 256)),
  transferMB: Number(process.env.BENCH_TRANSFER_MB ?? (quick ? 50 : 200)),
  rounds: Number(process.env.BENCH_ROUNDS ?? (quick ? 1 : 2)),
  transformRounds: Number(process.env.BENCH_TRANSFORM_ROUNDS ?? (quick ? 1 : 2)),
};
const sections = new Set((process.env.BENCH_ONLY ?? 'database,transforms,sftp,s3,wal').split(','));
const started = Date.now();

console.log(
  `nexus-backup bench ${new Date().toISOString()}: node ${process.version}, ${availableParallelism()} cores, ` +
    `load average ${loadavg()[0].toFixed(1)} at start${quick ? ', QUICK mode' : ''}`,
);
console.log(`config ${JSON.stringify(config)}; "o/t" = ours/theirs (below 1.00x: ours is faster or smaller)`);
if (!canMeasureMemory) console.log('peak RSS needs GNU time (/usr/bin/time): apt-get install -y time');

// Declared before the sections run: they read these.
// Read from the aes package, so the table names the cost our default backups really pay.
const { DEFAULT_SCRYPT } = await import('@nexus-backup/aes');
const DEFAULT_KDF_LABEL = `scrypt 2^${DEFAULT_SCRYPT.logN} (default)`;
/** N of `pg_dump -j N` / `pg_restore -j N`: the jobs our parallel modes use (the cores, at most 4). */
const JOBS = Math.min(availableParallelism(), 4);

const work = await mkdtemp(join(tmpdir(), 'nexus-bench-'));
let dumpGz;
try {
  if (sections.has('database')) dumpGz = await benchDatabase();
  if (sections.has('transforms')) await benchTransforms();
  if (sections.has('sftp') || sections.has('s3')) await benchTransfer();
  if (sections.has('wal'))
    await (await import('./wal.mjs')).walBench({
      root,
      work,
      segments: quick ? 5 : 20,
      baseMB: quick ? 50 : 300,
      passphrase: 'bench',
    });
} finally {
  await rm(work, { recursive: true, force: true });
}
console.log(`\nbench finished in ${((Date.now() - started) / 1000).toFixed(0)} s`);

async function benchDatabase() {
  const db = await startSampleDatabase(root);
  try {
    const bench = databaseBench({ root, work, db });
    const flat = [];
    if (config.smallMB < config.dbMB) {
      progress(`seeding the sample database to about ${config.smallMB} MB of dump text`);
      await db.seed(config.smallMB);
      progress('our backup and restore at the small size');
      const backup = await bench.oursBackup('small');
      const restore = await bench.oursRestore(backup.repo, 'restored_small');
      flat.push({ label: DEFAULT_KDF_LABEL, rawBytes: backup.rawBytes, backup, restore });
      await bench.dropRestored();
      // scrypt's memory (128 * r * N bytes: 128 MiB at the default 2^17) is a one-off peak at start;
      // a cheaper KDF shows what the streaming itself holds.
      progress('our backup and restore at the small size with scrypt 2^14');
      const cheapKdf = await bench.oursBackup('small-kdf14', ['--encrypt-scrypt-log-n', '14']);
      const cheapRestore = await bench.oursRestore(cheapKdf.repo, 'restored_small_kdf14');
      flat.push({
        label: 'scrypt 2^14',
        rawBytes: cheapKdf.rawBytes,
        backup: cheapKdf,
        restore: cheapRestore,
      });
      await bench.dropRestored();
    }
    progress(`seeding the sample database to about ${config.dbMB} MB of dump text`);
    await db.seed(config.dbMB);
    const source = await db.rowCounts();

    // Shell first, then ours, for both directions: neither side always runs on a warmer cache.
    progress('backup: pg_dump | gzip -6 | openssl enc');
    const shellBackup = await bench.shellBackup('full');
    progress('backup: nexus-backup backup postgres --encrypt');
    const oursBackup = await bench.oursBackup('full');
    const plain = await bench.plainGzipOf(shellBackup.file);
    progress('restore: gunzip -c | psql');
    const shellRestore = await bench.shellRestore(plain.gz, 'restored_psql');
    progress('restore: nexus-backup restore --create-db');
    const oursRestore = await bench.oursRestore(oursBackup.repo, 'restored_ours');
    flat.push({
      label: DEFAULT_KDF_LABEL,
      rawBytes: oursBackup.rawBytes,
      backup: oursBackup,
      restore: oursRestore,
    });

    // The pipelines a user would pick instead of ours, and our other compressors, on the same data.
    const anchors = await benchAnchors(bench, { shellBackup, oursBackup, shellRestore, oursRestore });

    const bytes = oursBackup.rawBytes;
    const gzipParams = oursBackup.manifest.transforms.map((t) => `${t.provider}${JSON.stringify(t.params)}`);
    printTable(
      `1-2. Sample database, PostgreSQL 15: our dump ${megabytes(bytes)}, pg_dump's ${megabytes(plain.rawBytes)} ` +
        '(rates are our dump size / wall time)',
      comparisonHeader({ server: true }),
      [
        comparisonRow('backup', bytes, oursBackup, shellBackup, { server: true }),
        comparisonRow('restore', bytes, oursRestore, shellRestore, { server: true }),
      ],
    );
    console.log(
      'backup  ours:   nexus-backup backup postgres --gzip=6 --encrypt --to <dir>   (postgres -> gzip -> aes -> local)\n' +
        '        theirs: pg_dump | gzip -6 | openssl enc -aes-256-cbc -pbkdf2 -salt -pass env:X -out <file>\n' +
        'restore ours:   nexus-backup restore db@latest --from <dir> --create-db <name>   (decrypt, gunzip, SHA-256 checks, SQL)\n' +
        '        theirs: createdb <name> && gunzip -c dump.sql.gz | psql -X -v ON_ERROR_STOP=1 -q -d <name>' +
        '   (the shell backup decrypted beforehand, untimed)',
    );
    console.log(
      `stored: ours ${megabytes(oursBackup.storedBytes)}, theirs ${megabytes(shellBackup.storedBytes)}; ` +
        `our transforms ${gzipParams.join(' -> ')}`,
    );
    printAnchors(anchors);
    for (const [name, restored] of [
      ['ours', oursRestore.counts],
      ['psql', shellRestore.counts],
      ...anchors.restores.map((row) => [row.what, row.run.counts]),
    ]) {
      const same = JSON.stringify(restored) === JSON.stringify(source);
      console.log(
        `rows restored by ${name} ${same ? 'match' : 'DIFFER FROM'} the source: ${JSON.stringify(restored)}`,
      );
    }
    printTable(
      '3. Peak RSS of our processes by data size (memory must not grow with the data)',
      [
        'dump size',
        'KDF',
        'backup wall',
        'backup CPU',
        'backup RSS',
        'restore wall',
        'restore CPU',
        'restore RSS',
      ],
      flat.map(({ label, rawBytes, backup, restore }) => [
        megabytes(rawBytes),
        label,
        seconds(backup.wall),
        seconds(backup.cpu),
        mib(backup.rssMiB),
        seconds(restore.wall),
        seconds(restore.cpu),
        mib(restore.rssMiB),
      ]),
    );
    await bench.dropRestored();
    return plain.gz;
  } finally {
    await db.stop();
  }
}

/**
 * The backup and restore pipelines of issue 16 next to today's rows: pigz and zstd instead of gzip,
 * pg_dump's directory format with `-j`, and our backup with `--zstd`. Theirs first, then ours.
 */
async function benchAnchors(bench, today) {
  const backups = [
    { what: 'pg_dump | gzip -6 | openssl enc (the guide)', run: today.shellBackup, guide: true },
  ];
  progress('backup: pg_dump > /dev/null');
  backups.push({ what: 'pg_dump > /dev/null (the floor)', run: await bench.dumpOnly() });
  if (await hasProgram('pigz')) {
    progress('backup: pg_dump | pigz -6 | openssl enc');
    backups.push({
      what: 'pg_dump | pigz -6 | openssl enc',
      run: await bench.shellBackup('pigz', ['pigz', '-6']),
      pigz: true,
    });
  } else {
    console.log('pigz is not installed (apt-get install -y pigz): its row is left out');
  }
  if (await hasProgram('zstd')) {
    progress('backup: pg_dump | zstd -3 -T2 | openssl enc');
    backups.push({
      what: 'pg_dump | zstd -3 -T2 | openssl enc',
      run: await bench.shellBackup('zstd', ['zstd', '-3', '-T2']),
    });
  }
  progress(`backup: pg_dump -Fd -j ${JOBS}`);
  const dir = await bench.dirBackup('full', JOBS);
  backups.push({ what: `pg_dump -Fd -j ${JOBS} (no encryption)`, run: dir });
  backups.push({ what: 'ours --gzip=6 --encrypt', run: today.oursBackup, gzip: true });
  progress('backup: nexus-backup backup postgres --zstd --encrypt');
  const zstd = await bench.oursBackup('zstd', [], ['--zstd']);
  backups.push({ what: 'ours --zstd --encrypt', run: zstd });
  progress('backup: nexus-backup backup postgres --zstd --zstd-workers 2 --encrypt');
  backups.push({
    what: 'ours --zstd --zstd-workers 2 --encrypt',
    run: await bench.oursBackup('zstd-workers', [], ['--zstd', '--zstd-workers', '2']),
  });
  progress('backup: nexus-backup backup postgres --no-zstd --no-gzip --encrypt');
  backups.push({
    what: 'ours --no-zstd --no-gzip --encrypt (our floor)',
    run: await bench.oursBackup('uncompressed', [], ['--no-zstd', '--no-gzip']),
  });
  progress('backup: nexus-backup backup postgres --encrypt (the default compression)');
  const byDefault = await bench.oursBackup('default', [], []);
  const compressors = byDefault.manifest.transforms.filter((t) => t.provider !== 'aes');
  backups.push({
    what: `ours --encrypt (default: ${compressors.map((t) => t.provider).join(', ') || 'none'})`,
    run: byDefault,
  });

  const restores = [{ what: 'gunzip -c | psql', run: today.shellRestore, psql: true }];
  progress(`restore: pg_restore -j ${JOBS}`);
  restores.push({
    what: `pg_restore -j ${JOBS}`,
    run: await bench.dirRestore(dir.dir, 'restored_pg_restore', JOBS),
    pgRestore: true,
  });
  restores.push({ what: 'ours --create-db (gzip backup)', run: today.oursRestore });
  progress('restore: nexus-backup restore --create-db (zstd backup)');
  restores.push({
    what: 'ours --create-db (zstd backup)',
    run: await bench.oursRestore(zstd.repo, 'restored_zstd'),
  });
  progress(`restore: nexus-backup restore --create-db --jobs ${JOBS} (zstd backup)`);
  restores.push({
    what: `ours --create-db --jobs ${JOBS} (zstd backup)`,
    run: await bench.oursRestore(zstd.repo, 'restored_zstd_jobs', ['--jobs', String(JOBS)]),
  });
  return { backups, restores };
}

function printAnchors({ backups, restores }) {
  const guide = backups.find((row) => row.guide)?.run;
  const pigz = backups.find((row) => row.pigz)?.run;
  const gzip6 = backups.find((row) => row.guide)?.run;
  printTable(
    "1b. Backup pipelines side by side (same data, same run; o/guide, o/pigz: wall divided by those rows' wall; " +
      "size/gzip-6: stored bytes divided by the guide's)",
    ['pipeline', 'wall', 'CPU', 'srv CPU', 'RSS', 'stored', 'wall/guide', 'wall/pigz', 'size/gzip-6'],
    backups.map(({ what, run }) => [
      what,
      seconds(run.wall),
      seconds(run.cpu),
      seconds(run.serverCpu),
      mib(run.rssMiB),
      run.storedBytes === undefined ? 'n/a' : megabytes(run.storedBytes),
      ratio(run.wall, guide?.wall),
      ratio(run.wall, pigz?.wall),
      ratio(run.storedBytes, gzip6?.storedBytes),
    ]),
  );
  const psql = restores.find((row) => row.psql)?.run;
  const pgRestore = restores.find((row) => row.pgRestore)?.run;
  printTable(
    '2b. Restore into a new database side by side (wall divided by `gunzip | psql` and by `pg_restore -j`)',
    ['pipeline', 'wall', 'CPU', 'srv CPU', 'RSS', 'wall/psql', `wall/pg_restore -j ${JOBS}`],
    restores.map(({ what, run }) => [
      what,
      seconds(run.wall),
      seconds(run.cpu),
      seconds(run.serverCpu),
      mib(run.rssMiB),
      ratio(run.wall, psql?.wall),
      ratio(run.wall, pgRestore?.wall),
    ]),
  );
}

async function hasProgram(name) {
  try {
    await run('which', [name]);
    return true;
  } catch {
    return false;
  }
}

async function benchTransforms() {
  progress(`transforms on ${config.transformMB} MB of dump text`);
  const text = await dumpText(config.transformMB * MB);
  const result = await transformsBench({ text, work, rounds: config.transformRounds });
  printTable(
    `4. Transforms on ${megabytes(text.length)} of dump text, best of ${config.transformRounds}: ours streamed ` +
      'in this node process from memory, theirs the binaries on a file (cached)',
    comparisonHeader(),
    result.rows.map((row) => comparisonRow(row.what, row.bytes, row.ours, row.theirs)),
  );
  const { share } = result;
  console.log(
    `encrypting gzip-6's output (${megabytes(result.compressedBytes)}) takes ${seconds(result.encryptCompressed.wall)}: ` +
      `encryption's share of a gzip-6 + encrypt pipeline is ours ${percent(share.ours.wall)} of wall time ` +
      `(${percent(share.ours.cpu)} of CPU), theirs (gzip | openssl enc) ${percent(share.theirs.wall)} ` +
      `(${percent(share.theirs.cpu)} of CPU)`,
  );
}

async function benchTransfer() {
  const payload = await writePayload(work, config.transferMB);
  const bytes = config.transferMB * 1024 * 1024;
  const rows = [];
  if (sections.has('sftp')) {
    progress(`sftp vs scp, ${config.transferMB} MiB, ${config.rounds} round(s)`);
    const sftp = await sftpBench({ root, payload, rounds: config.rounds });
    rows.push(comparisonRow('sftp repository vs scp', bytes, sftp.ours, sftp.theirs));
    rows.push(comparisonRow('sftp repository, ?transport=ssh, vs scp', bytes, sftp.viaSsh, sftp.theirs));
  }
  if (sections.has('s3')) {
    progress(`s3 (s3rver) vs local repository, ${config.transferMB} MiB`);
    const s3 = await s3Bench({ root, work, payload });
    rows.push(comparisonRow('s3 repository vs our local repository', bytes, s3.s3, s3.local));
  }
  printTable(
    `5. Transfer of a ${config.transferMB} MiB random file on loopback (ours: nexus-backup backup files --no-gzip --to <url>)`,
    comparisonHeader(),
    rows,
  );
  if (sections.has('sftp')) {
    console.log(`scp: scp -i <key> -P <port> <file> user@127.0.0.1:<dir>/  (fastest of ${config.rounds})`);
    // The transfer alone, without the CLI's start-up and backup pipeline: the sftp destination,
    // already connected, against scp on the same file, per-round ratios (the rsync package's bench).
    progress('sftp destination vs scp (packages/rsync/bench/throughput.mjs)');
    const { stdout } = await run('node', [join(root, 'packages/rsync/bench/throughput.mjs')], {
      env: {
        ...process.env,
        BENCH_MB: String(config.transferMB),
        BENCH_ROUNDS: String(Math.max(3, config.rounds)),
      },
    });
    console.log(`\n5b. The sftp destination alone, connected beforehand, against scp\n${stdout.trim()}`);
  }
}

/** The first `bytes` of the pg_dump text (repeated if the dump is smaller), or generated rows without it. */
async function dumpText(bytes) {
  let text;
  if (dumpGz) {
    const { stdout } = await run('bash', ['-c', `gunzip -c "$0" | head -c ${bytes}`, dumpGz], {
      encoding: 'buffer',
      maxBuffer: bytes + MB,
    });
    text = stdout;
  } else {
    const schema = await readFile(join(root, 'examples/sample-service/seed.sql'));
    const rows = [];
    for (let row = 0, size = 0; size < Math.min(bytes, 16 * MB); row++) {
      const line = `${row}\t2026-11-26 05:18:22+00\t{"text": "answer ${row} ${'token '.repeat(row % 40)}"}\n`;
      rows.push(line);
      size += line.length;
    }
    text = Buffer.concat([schema, Buffer.from(rows.join(''))]);
  }
  const copies = [];
  for (let size = 0; size < bytes; size += text.length) copies.push(text);
  return Buffer.concat(copies).subarray(0, bytes);
}

function progress(message) {
  console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}`);
}
