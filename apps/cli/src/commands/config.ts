import { resolve } from 'node:path';
import {
  EXIT,
  inspectConfig,
  type NexusConfig,
  NexusError,
  ProviderRegistry,
  type ProviderUse,
  resolveOptions,
  SCHEME_PROVIDERS,
  toNexusError,
} from '@nexus-backup/core';
import type { Command } from 'commander';
import { printJson, printLines } from '../output.js';
import { pluginPath, type Runtime } from '../runtime.js';
import { loadScheduleChecker } from '../schedule-check.js';

/**
 * `config check [--config FILE] [--json]`: every problem of a config at once, without running
 * anything: the file's shape and `${VAR}`s, each provider's options against its declaration, each
 * repository URL against its destination, and each schedule against the scheduler's cron parser.
 */
export function registerConfig(program: Command, runtime: Runtime): void {
  const config = program.command('config').description('work with the config file');
  config
    .command('check')
    .description('report every problem in the config file at once (exit 64 when there is any), run nothing')
    .action(async (_options: unknown, command: Command) => {
      runtime.flags = command.optsWithGlobals();
      const path = runtime.configPath();
      if (!path) {
        throw new NexusError('USAGE', 'no config file found', {
          hint: 'pass --config FILE or create nexus-backup.yaml in this directory',
        });
      }
      const inspection = await inspectConfig(resolve(path), runtime.env, {
        checkSchedule: await loadScheduleChecker(),
      });
      const problems = [...inspection.problems];
      if (inspection.config) problems.push(...(await checkProviders(inspection.config, runtime)));
      const pipelines = Object.keys(inspection.config?.pipelines ?? {}).length;
      if (runtime.flags.json) printJson({ file: inspection.file, ok: problems.length === 0, problems });
      else if (problems.length === 0) printLines([`ok: ${inspection.file} (${pipelines} pipeline(s))`]);
      else
        printLines([`${inspection.file}: ${problems.length} problem(s)`, ...problems.map((p) => `  ${p}`)]);
      if (problems.length > 0) {
        throw new NexusError('CONFIG', `${inspection.file} has ${problems.length} problem(s), listed above`);
      }
      process.exitCode = EXIT.ok;
    });
}

/** What only the providers know: option names and types, URL forms. One line per problem. */
async function checkProviders(config: NexusConfig, runtime: Runtime): Promise<string[]> {
  const registry = new ProviderRegistry({
    searchPaths: runtime.options.searchPaths ?? [process.cwd()],
    plugins: [...(runtime.flags.plugin ?? []).map((plugin) => pluginPath(plugin)), ...config.plugins],
  });
  const problems: string[] = [];
  const attempt = async (path: string, check: () => Promise<unknown>) => {
    try {
      await check();
    } catch (error) {
      problems.push(`${path}: ${toNexusError(error).message}`);
    }
  };
  const checkUse = (kind: 'source' | 'transform', use: ProviderUse) =>
    attempt(use.path, async () => {
      const definition = await registry.load(kind, use.use);
      resolveOptions(definition.options, {
        path: use.path,
        provider: definition.name,
        values: use.options,
        env: runtime.env,
      });
    });
  const repositories = new Map<string, string>();
  for (const pipeline of Object.values(config.pipelines)) {
    await checkUse('source', pipeline.source);
    for (const transform of pipeline.transforms) await checkUse('transform', transform);
    for (const repository of pipeline.to) repositories.set(repository.url, repository.path);
  }
  for (const repository of Object.values(config.repositories))
    repositories.set(repository.url, repository.path);
  for (const [url, path] of repositories) {
    await attempt(path, async () => {
      const parsed = new URL(url.startsWith('/') ? `file://${url}` : url);
      const scheme = parsed.protocol.replace(/:$/, '');
      const provider = SCHEME_PROVIDERS[scheme];
      if (!provider) throw new NexusError('CONFIG', `unsupported repository scheme "${scheme}:"`);
      const definition = await registry.load('destination', provider);
      resolveOptions(definition.options, {
        path,
        provider: definition.name,
        values: definition.fromUrl(parsed) as Record<string, unknown>,
        env: runtime.env,
      });
    });
  }
  return problems;
}
