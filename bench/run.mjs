// `pnpm bench`: nexus-backup against the shell pipelines operators run today, same data, same run.
// Prints tables only; no thresholds (the machine is shared, numbers move). See bench/README.md.
//   BENCH_DB_MB=500      dump text of the sample database for the backup/restore comparison
//   BENCH_SMALL_MB=100   the smaller size at which our peak RSS is measured too (memory must stay flat)
//   BENCH_DB_ROUNDS=2    rounds of the backup/restore rows; each row's fastest counts
//   BENCH_BIG=1          our peak RSS at 2 GB of dump text too (BENCH_BIG_MB), beside the small and main sizes
//   BENCH_PROFILE=0      skip the CPU profile of one backup and one restore (BENCH_PROFILE_DIR keeps the files)
//   BENCH_QUICK=1        smoke run: 50 MB database, 10 MB small size, smaller transform/transfer data
//   BENCH_ONLY=database,transforms,sftp,s3,wal   run only these sections (memory: section 3's rows alone)
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { databaseSection } from './database-section.mjs';
import { canMeasureMemory } from './measure.mjs';
import { comparisonHeader, comparisonRow, MB, megabytes, percent, printTable, seconds } from './report.mjs';
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
  dbRounds: Number(process.env.BENCH_DB_ROUNDS ?? (quick ? 1 : 2)),
  // Opt-in: seeding and a backup and restore of 2 GB of dump text take long on this machine.
  bigMB: process.env.BENCH_BIG === '1' ? Number(process.env.BENCH_BIG_MB ?? 2000) : undefined,
  profile: process.env.BENCH_PROFILE !== '0',
  profileDir: process.env.BENCH_PROFILE_DIR ? resolve(process.env.BENCH_PROFILE_DIR) : undefined,
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
  if (sections.has('database')) {
    dumpGz = await databaseSection({ root, work, jobs: JOBS, kdfLabel: DEFAULT_KDF_LABEL, progress, config });
  } else if (sections.has('memory')) {
    await databaseSection({
      root,
      work,
      jobs: JOBS,
      kdfLabel: DEFAULT_KDF_LABEL,
      progress,
      config: { ...config, memoryOnly: true },
    });
  }
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
    rows.push(comparisonRow('the same for a 1-byte file (sftp)', 1, sftp.tinyOurs, sftp.tinyTheirs));
    rows.push(comparisonRow('the same for a 1-byte file (ssh)', 1, sftp.tinyViaSsh, sftp.tinyTheirs));
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
