import { createRequire } from 'node:module';

/** The nexus-backup version recorded in manifests (core's package version). */
export const TOOL_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string })
  .version;
