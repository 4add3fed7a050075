#!/usr/bin/env node
// The meta-package's own bin: providers are its dependencies, so they resolve from here.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '@nexus-backup/cli';

const here = dirname(fileURLToPath(import.meta.url));
process.exitCode = await main(process.argv.slice(2), { searchPaths: [process.cwd(), here] });
