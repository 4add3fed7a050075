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

const { main } = await import('../dist/index.js');
const here = dirname(fileURLToPath(import.meta.url));
process.exitCode = await main(process.argv.slice(2), { searchPaths: [process.cwd(), here] });
