#!/usr/bin/env node
// Providers are resolved from the working directory first, then from where this CLI is installed
// (a project's node_modules, or the monorepo root during development).
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

// Before the CLI loads (its code needs Node 22), in syntax older Node versions still parse: an old
// Node gets one line saying why, not a stack trace from deep inside a dependency.
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
if (NODE_MAJOR < 22) {
  process.stderr.write(
    `error: nexus-backup needs Node.js 22 or newer, but this is Node.js ${process.versions.node} (${process.execPath}); install Node.js 22+ and run it again\n`,
  );
  process.exit(64);
}

// Two V8 settings for a process whose heap stays small (12-15 MiB live) while it streams gigabytes of
// Buffers through it (issue 16; bench/README.md, rounds 4 and 6):
// - V8 grows the young generation lazily with the bytes a run moves (up to 64 MiB on Node 24) and dead
//   stream Buffers wait in it for a scavenge, so a backup's peak RSS grew with the database although
//   nothing is retained. A 2 MiB semi-space keeps the restore flat and the backup within 1.2x.
// - Parallel GC spreads each of the run's hundreds of small collections over 4 helper threads: on a
//   small heap that is coordination, not work (a 512 MB backup on 2 cores: 0.9 s of helper CPU; on
//   one thread 0.2 s, the main thread's share unchanged), and those cores are the ones compression
//   and PostgreSQL need.
// V8 reads both only at start, hence one execve (same pid and file descriptors, no second process).
// A setting the operator gives (argv or NODE_OPTIONS) wins; without process.execve (Windows,
// Node < 22.15) the CLI runs with V8's defaults. `wal push` / `wal fetch` skip it: PostgreSQL starts
// one per 16 MiB segment, so the second start (~25 ms of CPU) would cost more than it saves.
const STREAMING_V8_FLAGS = [
  { flag: '--max-semi-space-size=2', givenAs: /--max[-_]semi[-_]space[-_]size/ },
  { flag: '--single-threaded-gc', givenAs: /--(no-)?single[-_]threaded[-_]gc/ },
];
const operatorFlags = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
const missingFlags = STREAMING_V8_FLAGS.filter(({ givenAs }) => !givenAs.test(operatorFlags)).map(
  ({ flag }) => flag,
);
const [command, subcommand] = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const perSegment = command === 'wal' && (subcommand === 'push' || subcommand === 'fetch');
if (
  !perSegment &&
  missingFlags.length > 0 &&
  typeof process.execve === 'function' &&
  process.platform !== 'win32'
) {
  process.execve(process.execPath, [
    process.execPath,
    ...missingFlags,
    ...process.execArgv,
    ...process.argv.slice(1),
  ]);
}

const { main } = await import('../dist/index.js');
const here = dirname(fileURLToPath(import.meta.url));
process.exitCode = await main(process.argv.slice(2), { searchPaths: [process.cwd(), here] });
