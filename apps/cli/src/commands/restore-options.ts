import {
  BUILTIN_PROVIDERS,
  isNexusError,
  NexusError,
  type OptionsSpec,
  type ProviderDefinition,
  type ProviderRegistry,
  type SourceDefinition,
} from '@nexus-backup/core';
import type { Runtime } from '../runtime.js';

/** Every installed source definition that loads, in-house ones first. */
export async function installedSources(runtime: Runtime): Promise<SourceDefinition[]> {
  const registry = await runtime.registry();
  const definitions = [...(await registry.plugins('source'))];
  for (const name of Object.keys(BUILTIN_PROVIDERS.source)) {
    if (!registry.isInstalled('source', name)) continue;
    try {
      definitions.push(await registry.load('source', name));
    } catch (error) {
      // A broken provider package only loses its own target options; the others stay usable.
      runtime.log.debug(`cannot load source ${name}: ${(error as Error).message}`);
    }
  }
  return definitions;
}

/** The union of the restore (target) options of every installed source, in-house ones included. */
export async function installedRestoreOptions(runtime: Runtime): Promise<OptionsSpec> {
  const merged: OptionsSpec = {};
  for (const definition of await installedSources(runtime)) {
    for (const [name, option] of Object.entries(definition.restoreOptions)) merged[name] ??= option;
  }
  return merged;
}

/**
 * A provider a manifest names. A name no installed provider has is damaged data (exit 2), not a usage
 * mistake; a built-in provider whose package is missing stays PROVIDER_MISSING with its install command.
 */
export async function loadManifestProvider<K extends 'source' | 'transform'>(
  registry: ProviderRegistry,
  kind: K,
  name: string,
  where: string,
): Promise<Extract<ProviderDefinition, { kind: K }>> {
  try {
    return await registry.load(kind, name);
  } catch (error) {
    if (!isNexusError(error) || error.code !== 'USAGE') throw error;
    throw new NexusError(
      'INTEGRITY',
      `the manifest of ${where} names the ${kind} "${name}", which no installed provider has`,
      {
        cause: error,
        hint: 'the manifest is damaged, or the backup was made with an in-house provider: load it with --plugin',
      },
    );
  }
}
