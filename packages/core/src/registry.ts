import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ProviderDefinition, ProviderKind } from './contracts.js';
import { NexusError } from './errors.js';

/**
 * Which package provides each built-in provider. Nothing is imported until a provider is used, so
 * `nexus-backup --help` loads no SDK; provider packages must lazy-import their SDK inside `create`.
 */
export const BUILTIN_PROVIDERS: Readonly<Record<ProviderKind, Readonly<Record<string, string>>>> = {
  source: {
    postgres: '@nexus-backup/postgres',
    credentials: '@nexus-backup/credentials',
    files: '@nexus-backup/credentials',
    pgbase: '@nexus-backup/pgwal',
  },
  transform: {
    gzip: '@nexus-backup/gzip',
    aes: '@nexus-backup/aes',
    zstd: '@nexus-backup/zstd',
  },
  destination: {
    local: '@nexus-backup/local',
    s3: '@nexus-backup/s3',
    sftp: '@nexus-backup/rsync',
  },
};

/**
 * The `backup` flag of each built-in transform, so `--encrypt` can name the package to install even
 * when @nexus-backup/aes is absent. Installed definitions declare the same in `cli`.
 */
export const BUILTIN_TRANSFORM_FLAGS: Readonly<Record<string, string>> = {
  gzip: 'gzip',
  aes: 'encrypt',
  zstd: 'zstd',
};

/**
 * Top-level commands that built-in providers contribute (`wal push`, `wal fetch`), so `--help` can list
 * them and the CLI loads the one provider only when its command runs.
 */
export const BUILTIN_COMMANDS: Readonly<Record<string, BuiltinCommand>> = {
  wal: { kind: 'source', name: 'pgbase' },
  decrypt: {
    kind: 'transform',
    name: 'aes',
    summary: 'decrypt one file (nexus-backup aes format, or openssl enc -aes-256-cbc) to stdout or --output',
  },
};

export interface BuiltinCommand {
  kind: ProviderKind;
  name: string;
  /** The line `--help` shows while the provider is not loaded (default: "<name> commands (from <package>)"). */
  summary?: string;
}

/**
 * The built-in destination of each URL scheme, only to name the package to install when it is absent:
 * lookup reads the `schemes` the loaded definitions declare (see `destinationForScheme`).
 */
export const SCHEME_PROVIDERS: Readonly<Record<string, string>> = {
  file: 'local',
  s3: 's3',
  sftp: 'sftp',
  ssh: 'sftp',
};

export interface RegistryOptions {
  /** Directories to resolve provider packages from, in order (cwd, the CLI's install, a meta-package). */
  searchPaths?: string[];
  /** In-house providers: package names or module paths, each exporting `providers` or definitions. */
  plugins?: string[];
}

/**
 * Loads provider definitions by name on demand. A provider module exports its definitions as named
 * exports (or as `providers: ProviderDefinition[]`); any export with `kind` and `name` counts.
 */
export class ProviderRegistry {
  private readonly searchPaths: string[];
  private readonly pluginSpecifiers: string[];
  private pluginDefinitions: ProviderDefinition[] | undefined;
  private readonly versions = new WeakMap<ProviderDefinition, string>();

  constructor(options: RegistryOptions = {}) {
    this.searchPaths = options.searchPaths ?? [process.cwd()];
    this.pluginSpecifiers = options.plugins ?? [];
  }

  async load<K extends ProviderKind>(
    kind: K,
    name: string,
  ): Promise<Extract<ProviderDefinition, { kind: K }>> {
    for (const definition of await this.loadPlugins()) {
      if (definition.kind === kind && definition.name === name) {
        return definition as Extract<ProviderDefinition, { kind: K }>;
      }
    }
    const packageName = BUILTIN_PROVIDERS[kind][name];
    if (!packageName) {
      const known = [...Object.keys(BUILTIN_PROVIDERS[kind]), ...(await this.pluginNames(kind))];
      throw new NexusError('USAGE', `unknown ${kind} "${name}"; known ${kind}s: ${known.join(', ')}`, {
        hint: 'an in-house provider is loaded with --plugin <package-or-path> or `plugins:` in the config',
      });
    }
    const definitions = await this.importModule(packageName, true);
    const found = definitions.find((definition) => definition.kind === kind && definition.name === name);
    if (!found) {
      throw new NexusError('INTERNAL', `package ${packageName} does not export the ${kind} "${name}"`);
    }
    return found as Extract<ProviderDefinition, { kind: K }>;
  }

  /**
   * The destination for a repository URL scheme, from the `schemes` definitions declare: in-house
   * destinations (`--plugin`) first, then the installed built-in ones. A built-in scheme whose
   * package is absent fails with the install command; an unknown one lists the schemes there are.
   */
  async destinationForScheme(scheme: string): Promise<Extract<ProviderDefinition, { kind: 'destination' }>> {
    const candidates = [...(await this.plugins('destination'))];
    for (const name of Object.keys(BUILTIN_PROVIDERS.destination)) {
      if (this.isInstalled('destination', name)) candidates.push(await this.load('destination', name));
    }
    const found = candidates.find((definition) => (definition.schemes ?? []).includes(scheme));
    if (found) return found;
    const builtin = SCHEME_PROVIDERS[scheme];
    if (builtin) return this.load('destination', builtin);
    const known = [
      ...new Set([
        ...candidates.flatMap((definition) => definition.schemes ?? []),
        ...Object.keys(SCHEME_PROVIDERS),
      ]),
    ];
    throw new NexusError('USAGE', `unsupported repository scheme "${scheme}:"`, {
      hint: `use a path or one of ${known.map((s) => `${s}://`).join(', ')}; an in-house destination declaring it is loaded with --plugin`,
    });
  }

  /** The version of the package a definition came from, recorded in manifests. */
  versionOf(definition: ProviderDefinition): string {
    return this.versions.get(definition) ?? 'unknown';
  }

  /**
   * The whole module of a built-in provider's package, for provider-specific entry points such as the
   * aes package's standalone `createDecryptStream`. Fails with the install command when it is missing.
   */
  async providerModule(kind: ProviderKind, name: string): Promise<Record<string, unknown>> {
    await this.load(kind, name);
    const packageName = BUILTIN_PROVIDERS[kind][name] as string;
    const resolved = this.resolvePackage(packageName) as string;
    return (await import(pathToFileURL(resolved).href)) as Record<string, unknown>;
  }

  /** Is the package of a built-in provider installed? Used by help and by defaults like gzip-on. */
  isInstalled(kind: ProviderKind, name: string): boolean {
    const packageName = BUILTIN_PROVIDERS[kind][name];
    return packageName !== undefined && this.resolvePackage(packageName) !== undefined;
  }

  /** In-house providers of one kind, loaded from `--plugin` and the config's `plugins:`. */
  async plugins<K extends ProviderKind>(kind: K): Promise<Extract<ProviderDefinition, { kind: K }>[]> {
    return (await this.loadPlugins()).filter(
      (definition): definition is Extract<ProviderDefinition, { kind: K }> => definition.kind === kind,
    );
  }

  private async pluginNames(kind: ProviderKind): Promise<string[]> {
    return (await this.plugins(kind)).map((definition) => definition.name);
  }

  private async loadPlugins(): Promise<ProviderDefinition[]> {
    if (!this.pluginDefinitions) {
      const loaded: ProviderDefinition[] = [];
      for (const plugin of this.pluginSpecifiers) loaded.push(...(await this.importModule(plugin, false)));
      this.pluginDefinitions = loaded;
    }
    return this.pluginDefinitions;
  }

  private resolvePackage(specifier: string): string | undefined {
    for (const base of this.searchPaths) {
      try {
        return createRequire(join(base, 'noop.js')).resolve(specifier);
      } catch {
        // not installed under this base; try the next one
      }
    }
    return undefined;
  }

  private async importModule(specifier: string, builtin: boolean): Promise<ProviderDefinition[]> {
    const isPath = specifier.startsWith('.') || isAbsolute(specifier);
    const resolved = isPath ? resolve(specifier) : this.resolvePackage(specifier);
    if (!resolved) {
      throw new NexusError('PROVIDER_MISSING', `package ${specifier} is not installed`, {
        hint: builtin ? `install it with: npm install ${specifier}` : 'check the plugin name or path',
      });
    }
    let module: Record<string, unknown>;
    try {
      module = (await import(pathToFileURL(resolved).href)) as Record<string, unknown>;
    } catch (error) {
      throw new NexusError('PROVIDER_MISSING', `could not load ${specifier}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const definitions = collectDefinitions(module);
    const version = isPath ? 'local' : this.packageVersion(specifier);
    for (const definition of definitions) this.versions.set(definition, version);
    return definitions;
  }

  private packageVersion(packageName: string): string {
    const manifestPath = this.resolvePackage(`${packageName}/package.json`);
    if (!manifestPath) return 'unknown';
    try {
      return (createRequire(manifestPath)(manifestPath) as { version?: string }).version ?? 'unknown';
    } catch {
      return 'unknown';
    }
  }
}

function collectDefinitions(module: Record<string, unknown>): ProviderDefinition[] {
  const candidates = [...Object.values(module), ...(Array.isArray(module.providers) ? module.providers : [])];
  const seen = new Set<unknown>();
  return candidates.filter((value): value is ProviderDefinition => {
    if (seen.has(value) || !isDefinition(value)) return false;
    seen.add(value);
    return true;
  });
}

function isDefinition(value: unknown): value is ProviderDefinition {
  if (typeof value !== 'object' || value === null) return false;
  const { kind, name } = value as { kind?: unknown; name?: unknown };
  return (kind === 'source' || kind === 'transform' || kind === 'destination') && typeof name === 'string';
}
