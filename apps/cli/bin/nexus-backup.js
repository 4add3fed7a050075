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

// V8 grows the young generation lazily with the bytes a run moves (up to 64 MiB on Node 24) and dead
// stream Buffers wait in it for a scavenge, so a backup's peak RSS grew with the database although
// nothing is retained (issue 16; bench/README.md, round 4). A 2 MiB semi-space keeps the restore flat
// and the backup within 1.2x from 100 MB to 2 GB. V8 reads the flag only at start, hence one execve
// (same pid and file descriptors, no second process). A flag
// given by the operator (argv or NODE_OPTIONS) wins; without process.execve (Windows, Node < 22.15)
// the CLI runs with V8's default. `wal push` / `wal fetch` skip it: PostgreSQL starts one per 16 MiB
// segment, so the second start (~25 ms of CPU) would cost more than their bounded memory gains.
const YOUNG_GENERATION_FLAG = '--max-semi-space-size=2';
const setsYoungGeneration = (flags) => /--max[-_]semi[-_]space[-_]size/.test(flags);
const [command, subcommand] = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const perSegment = command === 'wal' && (subcommand === 'push' || subcommand === 'fetch');
if (
  !perSegment &&
  typeof process.execve === 'function' &&
  process.platform !== 'win32' &&
  !setsYoungGeneration(process.execArgv.join(' ')) &&
  !setsYoungGeneration(process.env.NODE_OPTIONS ?? '')
) {
  process.execve(process.execPath, [
    process.execPath,
    YOUNG_GENERATION_FLAG,
    ...process.execArgv,
    ...process.argv.slice(1),
  ]);
}

const { main } = await import('../dist/index.js');
const here = dirname(fileURLToPath(import.meta.url));
process.exitCode = await main(process.argv.slice(2), { searchPaths: [process.cwd(), here] });
