import { BUILTIN_PROVIDERS, type OptionsSpec, type SourceDefinition } from '@nexus-backup/core';
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
