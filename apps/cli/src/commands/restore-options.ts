import { BUILTIN_PROVIDERS, type OptionsSpec } from '@nexus-backup/core';
import type { Runtime } from '../runtime.js';

/** The union of the restore (target) options of every installed source, in-house ones included. */
export async function installedRestoreOptions(runtime: Runtime): Promise<OptionsSpec> {
  const registry = await runtime.registry();
  const merged: OptionsSpec = {};
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
  for (const definition of definitions) {
    for (const [name, option] of Object.entries(definition.restoreOptions)) merged[name] ??= option;
  }
  return merged;
}
