#!/usr/bin/env node
// Providers are resolved from the working directory first, then from where this CLI is installed
// (a project's node_modules, or the monorepo root during development).
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
process.exitCode = await main(process.argv.slice(2), { searchPaths: [process.cwd(), here] });
