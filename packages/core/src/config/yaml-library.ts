import { createRequire } from 'node:module';

/**
 * The `yaml` package, loaded on first use: its ~70 modules cost 70-250 ms of every CLI start, and a
 * run without a config file never parses YAML. Synchronous (its CommonJS build), so `parseConfig`
 * stays synchronous.
 */
export function yamlLibrary(): typeof import('yaml') {
  loaded ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return loaded;
}

let loaded: typeof import('yaml') | undefined;
