// WAL section of `pnpm bench`: segments per second through `wal push` (one process per segment, as
// archive_command runs it) against the guide's `cp %p /backup/wal/%f`, and a base backup
// (`backup pgbase`) against `pg_basebackup -Ft -z` when the machine's binaries match the server
// major (else against `tar -cz` of the data directory). The async rows are `wal push --spool` (what
// PostgreSQL waits for) and the `wal daemon` that archives the spool in one process.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startPostgres } from '@nexus-backup/testkit/postgres';
import { printTable, ratio, seconds } from './report.mjs';

const run = promisify(execFile);
const SEGMENT = 16 * 1024 * 1024;

/** WAL-like content: pages that are half zeros compress about as real WAL does. */
function walLike() {
  const page = 8192;
  const buffer = Buffer.alloc(SEGMENT);
  for (let offset = 0; offset < SEGMENT; offset += page) randomBytes(page / 2).copy(buffer, offset);
  return buffer;
}

async function timed(work) {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export async function walBench({ root, work, segments, baseMB, passphrase }) {
  const cli = join(root, 'apps/cli/bin/nexus-backup.js');
  const pgWal = join(work, 'wal-bench-pg_wal');
  await mkdir(pgWal, { recursive: true });
  const names = Array.from(
    { length: segments },
    (_, index) => `00000001000000000000${(index + 16).toString(16).toUpperCase().padStart(4, '0')}`,
  );
  for (const name of names) await writeFile(join(pgWal, name), walLike());

  const startup = await timed(() => run(process.execPath, [cli, '--version']));
  const rows = [];
  const pushAll = async (label, transforms, env = {}) => {
    const repo = join(work, `wal-bench-${label.replace(/\W+/g, '-')}`);
    const wall = await timed(async () => {
      for (const name of names) {
        await run(
          process.execPath,
          [cli, 'wal', 'push', join(pgWal, name), '--to', repo, '--transforms', transforms],
          {
            env: { ...process.env, ...env },
          },
        );
      }
    });
    await rm(repo, { recursive: true, force: true });
    return wall;
  };
  const cpWall = await timed(async () => {
    const target = join(work, 'wal-bench-cp');
    await mkdir(target, { recursive: true });
    for (const name of names) await run('cp', [join(pgWal, name), join(target, name)]);
    await rm(target, { recursive: true, force: true });
  });
  const cpSyncWall = await timed(async () => {
    const target = join(work, 'wal-bench-cp-sync');
    await mkdir(target, { recursive: true });
    for (const name of names)
      await run('sh', ['-c', `cp "$1" "$2" && sync "$2"`, 'cp', join(pgWal, name), join(target, name)]);
    await rm(target, { recursive: true, force: true });
  });
  for (const [label, transforms, env] of [
    ['wal push, no transform', 'none', {}],
    ['wal push, gzip (default)', 'gzip', {}],
    ['wal push, gzip + aes', 'gzip,aes', { NEXUS_BACKUP_PASSPHRASE: passphrase }],
  ]) {
    const wall = await pushAll(label, transforms, env);
    rows.push([
      label,
      seconds(wall),
      (segments / wall).toFixed(1),
      `${((wall / segments) * 1000).toFixed(0)} ms`,
      ratio(wall, cpWall),
      ratio(wall, cpSyncWall),
    ]);
  }
  // Async: PostgreSQL waits only for the spool copy; the daemon archives in one process.
  const spool = join(work, 'wal-bench-spool');
  const spoolWall = await timed(async () => {
    for (const name of names)
      await run(process.execPath, [cli, 'wal', 'push', join(pgWal, name), '--spool', spool]);
  });
  const asyncRepo = join(work, 'wal-bench-async');
  const drainWall = await timed(() =>
    run(process.execPath, [
      cli,
      'wal',
      'daemon',
      '--spool',
      spool,
      '--to',
      asyncRepo,
      '--once',
      '--transforms',
      'gzip',
    ]),
  );
  await rm(asyncRepo, { recursive: true, force: true });
  await rm(spool, { recursive: true, force: true });
  for (const [label, wall] of [
    ['wal push --spool (async)', spoolWall],
    ['wal daemon --once, gzip', drainWall],
  ]) {
    rows.push([
      label,
      seconds(wall),
      (segments / wall).toFixed(1),
      `${((wall / segments) * 1000).toFixed(0)} ms`,
      ratio(wall, cpWall),
      ratio(wall, cpSyncWall),
    ]);
  }
  rows.push([
    'cp %p /backup/wal/%f',
    seconds(cpWall),
    (segments / cpWall).toFixed(1),
    `${((cpWall / segments) * 1000).toFixed(0)} ms`,
    '1.00x',
    ratio(cpWall, cpSyncWall),
  ]);
  rows.push([
    'cp + sync (durable)',
    seconds(cpSyncWall),
    (segments / cpSyncWall).toFixed(1),
    `${((cpSyncWall / segments) * 1000).toFixed(0)} ms`,
    ratio(cpSyncWall, cpWall),
    '1.00x',
  ]);
  printTable(
    `WAL archiving: ${segments} segments of 16 MiB, one process per segment except the daemon (node start alone: ${(startup * 1000).toFixed(0)} ms)`,
    ['', 'wall', 'segments/s', 'per segment', 'vs cp', 'vs cp+sync'],
    rows,
  );
  await rm(pgWal, { recursive: true, force: true });
  await walFetchBench({ cli, work, segments: segments * 2 + 10 });
  await baseBackupBench({ cli, work, baseMB });
}

/**
 * restore_command as recovery runs it: one `wal fetch %f pg_wal/RECOVERYXLOG` per segment, in order,
 * the file consumed before the next call; without and with `--prefetch 8`.
 */
export async function walFetchBench({ cli, work, segments }) {
  const pgWal = join(work, 'wal-fetch-bench-pg_wal');
  const spool = join(work, 'wal-fetch-bench-spool');
  const repo = join(work, 'wal-fetch-bench-repo');
  await mkdir(pgWal, { recursive: true });
  await mkdir(spool, { recursive: true });
  const names = Array.from(
    { length: segments },
    (_, index) => `00000001000000000000${(index + 16).toString(16).toUpperCase().padStart(4, '0')}`,
  );
  for (const name of names) await writeFile(join(spool, name), walLike());
  await run(process.execPath, [cli, 'wal', 'daemon', '--spool', spool, '--to', repo, '--once']);
  const replay = (extra) =>
    timed(async () => {
      for (const name of names) {
        const target = join(pgWal, 'RECOVERYXLOG');
        await run(process.execPath, [cli, 'wal', 'fetch', name, target, '--from', repo, ...extra]);
        await rm(target);
      }
    });
  const plain = await replay([]);
  const prefetched = await replay(['--prefetch', '8']);
  printTable(
    `WAL restore: ${segments} segments of 16 MiB fetched one restore_command call each, gzip, local repository`,
    ['', 'wall', 'segments/s', 'per segment', 'vs plain'],
    [
      [
        'wal fetch',
        seconds(plain),
        (segments / plain).toFixed(1),
        `${((plain / segments) * 1000).toFixed(0)} ms`,
        '1.00x',
      ],
      [
        'wal fetch --prefetch 8',
        seconds(prefetched),
        (segments / prefetched).toFixed(1),
        `${((prefetched / segments) * 1000).toFixed(0)} ms`,
        ratio(prefetched, plain),
      ],
    ],
  );
  for (const dir of [pgWal, spool, repo]) await rm(dir, { recursive: true, force: true });
}

async function baseBackupBench({ cli, work, baseMB }) {
  const major = 15;
  const server = await startPostgres({
    major,
    settings: { archive_mode: 'on', wal_level: 'replica', archive_command: 'true', max_wal_size: '2GB' },
  });
  try {
    await server.admin.exec(
      'postgres',
      `CREATE TABLE bench AS SELECT g AS id, md5(g::text) || repeat('x', 100) AS payload FROM generate_series(1, ${Math.round((baseMB * 1e6) / 170)}) g; CHECKPOINT`,
    );
    const env = { ...process.env, PGPASSWORD: server.password };
    const url = `postgresql://${server.user}@${server.host}:${server.port}/postgres`;
    const repo = join(work, 'base-bench-repo');
    const ours = await timed(() =>
      run(
        process.execPath,
        [
          cli,
          'backup',
          'pgbase',
          '--db',
          url,
          '--pgdata',
          server.dataDir,
          '--to',
          repo,
          '--pipeline',
          'base',
        ],
        { env },
      ),
    );
    const size = Number(execFileSync('du', ['-sb', server.dataDir], { encoding: 'utf8' }).split('\t')[0]);
    const machineMajor = Number(
      /\) (\d+)/.exec(execFileSync('pg_basebackup', ['--version'], { encoding: 'utf8' }))?.[1],
    );
    const theirsDir = join(work, 'base-bench-theirs');
    let theirsLabel;
    let theirs;
    if (machineMajor === major) {
      theirsLabel = `pg_basebackup -Ft -z -X none (${major})`;
      theirs = await timed(() =>
        run('pg_basebackup', ['-d', url, '-D', theirsDir, '-Ft', '-z', '-X', 'none', '-c', 'fast'], { env }),
      );
    } else {
      theirsLabel = 'tar -cz of the data directory';
      await mkdir(theirsDir, { recursive: true });
      theirs = await timed(() =>
        run('tar', ['-czf', join(theirsDir, 'base.tar.gz'), '-C', server.dataDir, '.']),
      );
    }
    const rate = (wall) => `${(size / 1e6 / wall).toFixed(1)} MB/s`;
    printTable(
      `Base backup of a ${(size / 1e6).toFixed(0)} MB data directory (PostgreSQL ${major}), gzip, local repository`,
      ['', 'wall', 'rate', 'ours/theirs'],
      [
        ['nexus-backup backup pgbase', seconds(ours), rate(ours), ratio(ours, theirs)],
        [theirsLabel, seconds(theirs), rate(theirs), '1.00x'],
      ],
    );
    await rm(repo, { recursive: true, force: true });
    await rm(theirsDir, { recursive: true, force: true });
  } finally {
    await server.stop();
  }
}
