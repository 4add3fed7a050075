import {
  BUILTIN_PROVIDERS,
  BUILTIN_TRANSFORM_FLAGS,
  EXIT,
  kebabCase,
  NexusError,
  type TransformDefinition,
} from '@nexus-backup/core';
import type { ProviderValues } from '@nexus-backup/ops';
import { type Command, Option } from 'commander';
import { addDeclaredOptions, pickDeclaredValues, toCommanderOption } from '../provider-flags.js';
import { type RepositoryRef, resolveRepositoryRef } from '../repositories.js';
import type { Runtime } from '../runtime.js';
import { reportBackup } from './backup-report.js';
import { loadSourceCommands } from './source-commands.js';

/** `backup <source> [source options] [--gzip[=LEVEL] | --no-gzip] [--encrypt] --to <repo>... [--pipeline NAME]` */
export async function registerBackup(
  program: Command,
  runtime: Runtime,
  loadProviders: boolean,
): Promise<void> {
  const backup = program
    .command('backup')
    .description(
      'back up a source into one or more repositories (a manifest is written last, so partial backups never count)',
    );
  if (!loadProviders) {
    backup.argument('<source>', `one of: ${Object.keys(BUILTIN_PROVIDERS.source).join(', ')}`);
    return;
  }
  const transforms = await loadCliTransforms(runtime);
  await loadSourceCommands(backup, runtime, (command, definition) => {
    addDeclaredOptions(command, definition.options);
    command
      .requiredOption(
        '--to <repository...>',
        'repository path, URL or config name; repeat for several (3-2-1)',
      )
      .option(
        '--pipeline <name>',
        'pipeline name: the folder of these backups in the repository',
        definition.name,
      );
    for (const transform of transforms) addTransformFlags(command, transform);
    command.action(async (...args: unknown[]) => {
      const parsed = command.optsWithGlobals();
      runtime.flags = parsed;
      const positionals = args.slice(0, command.registeredArguments.length);
      const source: ProviderValues = {
        name: definition.name,
        values: pickDeclaredValues(definition.options, parsed, positionals),
        path: `backup ${definition.name}`,
        fromCli: true,
      };
      const targets = await Promise.all(
        (parsed.to as string[]).map((to) => resolveRepositoryRef(to, runtime)),
      );
      assertDistinctRepositories(targets);
      const run = {
        pipeline: parsed.pipeline as string,
        destinations: targets.map((target) => target.label),
      };
      // observeBackup sends the config's notifications and history row around the run (issue 8).
      const { buildBackupPlan, observeBackup, runPlannedBackup } = await import('@nexus-backup/ops');
      const services = await runtime.services();
      const observed = await observeBackup(services, await runtime.hooks(), run, async () => {
        const plan = await buildBackupPlan(
          {
            pipeline: run.pipeline,
            source,
            transforms: selectTransforms(transforms, parsed, definition.defaultCompression),
            targets,
          },
          services,
        );
        return runPlannedBackup(plan, services);
      });
      if (!observed.result) throw observed.error;
      const hooksExit = observed.hookFailed ? EXIT.warnings : EXIT.ok;
      process.exitCode = Math.max(reportBackup(observed.result, runtime), hooksExit);
    });
  });
}

interface CliTransform {
  name: string;
  flag: string;
  definition?: TransformDefinition;
}

/** Built-in transforms (installed or not, so a missing one names its package) plus in-house ones with `cli`. */
async function loadCliTransforms(runtime: Runtime): Promise<CliTransform[]> {
  const registry = await runtime.registry();
  const result: CliTransform[] = [];
  const plugins = await registry.plugins('transform');
  for (const [name, flag] of Object.entries(BUILTIN_TRANSFORM_FLAGS)) {
    // An in-house transform of the same name replaces the built-in one (the registry loads it first).
    if (plugins.some((plugin) => plugin.name === name)) continue;
    const definition = registry.isInstalled('transform', name)
      ? await registry.load('transform', name)
      : undefined;
    result.push({ name, flag: definition?.cli?.flag ?? flag, ...(definition ? { definition } : {}) });
  }
  for (const definition of plugins) {
    if (definition.cli) result.push({ name: definition.name, flag: definition.cli.flag, definition });
  }
  return result;
}

function addTransformFlags(command: Command, transform: CliTransform): void {
  const { definition, flag } = transform;
  const cli = definition?.cli;
  const valueOption = cli?.valueOption ? definition?.options[cli.valueOption] : undefined;
  const summary = definition?.description ?? `the ${transform.name} transform (not installed)`;
  command.addOption(new Option(valueOption ? `--${flag} [${cli?.valueOption}]` : `--${flag}`, summary));
  // Every compressor can be refused: a source may prefer another one than gzip by default.
  if (cli?.enabledByDefault || definition?.compresses) {
    command.addOption(new Option(`--no-${flag}`, `do not apply ${transform.name}`));
  }
  for (const [name, option] of Object.entries(definition?.options ?? {})) {
    if (name === cli?.valueOption || option.secret) continue;
    command.addOption(toCommanderOption(`--${flag}-${kebabCase(name)}`, option));
  }
}

/**
 * Which transforms the flags switch on, compression before encryption. Without a compressor flag
 * the source's preferred compressor applies when installed (postgres: zstd), else the default one
 * (gzip). A compressor's own option (`--zstd-workers 2`) names it too; `--no-<compressor>` with no
 * compressor named means no compression at all, as `--no-gzip` always has.
 */
function selectTransforms(
  transforms: CliTransform[],
  parsed: Record<string, unknown>,
  preferredCompression?: string,
): ProviderValues[] {
  const selected: { use: ProviderValues; encrypts: boolean }[] = [];
  const named = (transform: CliTransform): boolean =>
    isGiven(parsed[camel(transform.flag)]) ||
    Object.keys(transform.definition?.options ?? {}).some(
      (name) => parsed[camel(`${transform.flag}-${kebabCase(name)}`)] !== undefined,
    );
  const compressors = transforms.filter(({ definition }) => definition?.compresses);
  const compressorNamed = compressors.some(named);
  const compressionRefused = compressors.some(({ flag }) => parsed[camel(flag)] === false);
  const preferred = compressors.find(({ name }) => name === preferredCompression);
  const defaultCompressor = (transform: CliTransform): boolean =>
    preferred ? transform === preferred : Boolean(transform.definition?.cli?.enabledByDefault);
  for (const transform of transforms) {
    const { definition, flag } = transform;
    const given = parsed[camel(flag)];
    const enabled = definition?.compresses
      ? given === false
        ? false
        : compressorNamed
          ? named(transform)
          : !compressionRefused && defaultCompressor(transform)
      : given === undefined
        ? Boolean(definition?.cli?.enabledByDefault)
        : given !== false;
    if (!enabled) continue;
    if (!definition) {
      const packageName = BUILTIN_PROVIDERS.transform[transform.name];
      const optOut = given === undefined ? ` or pass --no-${flag}` : '';
      throw new NexusError(
        'PROVIDER_MISSING',
        `--${flag} needs the package ${packageName}, which is not installed`,
        {
          hint: `install it with: npm install ${packageName}${optOut}`,
        },
      );
    }
    const values: Record<string, unknown> = {};
    const flagNames: Record<string, string> = {};
    for (const name of Object.keys(definition.options)) {
      flagNames[name] = `--${flag}-${kebabCase(name)}`;
      const value = parsed[camel(`${flag}-${kebabCase(name)}`)];
      if (value !== undefined) values[name] = value;
    }
    const valueOption = definition.cli?.valueOption;
    if (valueOption) flagNames[valueOption] = `--${flag}`; // `--gzip=9` is gzip's level
    if (valueOption && typeof given === 'string') values[valueOption] = given;
    selected.push({
      use: { name: transform.name, values, path: `--${flag}`, fromCli: true, flagNames },
      encrypts: Boolean(definition.encrypts),
    });
  }
  return [...selected.filter((s) => !s.encrypts), ...selected.filter((s) => s.encrypts)].map((s) => s.use);
}

/** A flag switched on (`--zstd`, `--zstd=9`), as opposed to absent or `--no-zstd`. */
function isGiven(value: unknown): boolean {
  return value !== undefined && value !== false;
}

function camel(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

/** `--to ./r --to file:///abs/r` is one copy reported as two: a 3-2-1 that is not. */
function assertDistinctRepositories(targets: readonly RepositoryRef[]): void {
  const seen = new Map<string, string>();
  for (const target of targets) {
    const where = target.url.replace(/\/+$/, '');
    const earlier = seen.get(where);
    if (earlier !== undefined) {
      throw new NexusError('USAGE', `--to ${target.label} names the same repository as --to ${earlier}`, {
        hint: 'give each copy its own repository',
      });
    }
    seen.set(where, target.label);
  }
}
