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

// Two V8 heap settings, read only when the heap is set up, hence one execve before the CLI loads (same
// pid and file descriptors, no second process):
// - A 2 MiB semi-space. V8 grows the young generation lazily with the bytes a run moves (up to 64 MiB
//   on Node 24) and dead stream Buffers wait in it for a scavenge, so a backup's peak RSS grew with the
//   database although nothing is retained (issue 16; bench/README.md, round 4).
// - A 64 MiB initial old generation. V8 counts the Buffers a stream allocates (outside its heap)
//   against the old generation's room, which on a ~10 MiB heap is ~10 MiB: a 512 MB restore ran ~45
//   full mark-compacts (a third of its CPU), a backup ~35. With this floor they run ~7 times, for
//   ~0.7 s less CPU each; dead Buffers wait longer, ~20 MiB more at the streaming peak (the default
//   KDF's 128 MiB still sets the peak of a default run; bench/README.md, round 8).
// A flag the operator gives (argv, or NODE_OPTIONS where Node allows it) wins; without process.execve
// (Windows, Node < 22.15) the CLI runs with V8's defaults. `wal push` / `wal fetch` skip it: PostgreSQL
// starts one per 16 MiB segment, so the second start (~25 ms of CPU) would cost more than it saves.
const HEAP_FLAGS = [
  { flag: '--max-semi-space-size=2', given: /--max[-_]semi[-_]space[-_]size/ },
  { flag: '--initial-old-space-size=64', given: /--initial[-_]old[-_]space[-_]size/ },
];
const operatorFlags = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
const missingFlags = HEAP_FLAGS.filter(({ given }) => !given.test(operatorFlags)).map(({ flag }) => flag);
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
