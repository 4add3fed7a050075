import type { OptionsSpec, Repository, SourceDataCheck, SourceDefinition } from '@nexus-backup/core';
import type { SourceCheckRequest } from '@nexus-backup/ops';
import { pickDeclaredValues } from '../provider-flags.js';
import type { Runtime } from '../runtime.js';
import { installedSources } from './restore-options.js';

/**
 * The CLI side of the hooks a source declares for data its backups depend on outside their folders
 * (pgbase: archived WAL). Nothing here knows a provider by name.
 */

/** The definitions of the sources whose backups the repository holds and that are installed. */
export async function sourcesInRepository(
  repository: Repository,
  runtime: Runtime,
): Promise<SourceDefinition[]> {
  const ctx = runtime.context();
  const registry = await runtime.registry();
  const plugins = await registry.plugins('source');
  const names = new Set(
    (await repository.scan(ctx)).backups.map((backup) => backup.manifest.source.provider),
  );
  const definitions: SourceDefinition[] = [];
  for (const name of names) {
    // A provider that is not installed has nothing to add here.
    if (!registry.isInstalled('source', name) && !plugins.some((plugin) => plugin.name === name)) continue;
    definitions.push(await registry.load('source', name));
  }
  return definitions;
}

/**
 * `verify`: each source's checks of its outside data, for one pipeline or all. A named pipeline asks
 * every installed source (a WAL pipeline may exist before any base backup); all pipelines, only the
 * sources whose backups the repository holds.
 */
export async function sourceDataChecks(
  repository: Repository,
  runtime: Runtime,
  pipeline: string | undefined,
): Promise<SourceDataCheck[]> {
  const ctx = runtime.context();
  const checks: SourceDataCheck[] = [];
  const sources = pipeline ? await installedSources(runtime) : await sourcesInRepository(repository, runtime);
  for (const definition of sources) {
    if (definition.verifyData)
      checks.push(...(await definition.verifyData(repository, ctx, pipeline ? { pipeline } : {})));
  }
  return checks;
}

/** The union of the `check` flags installed sources declare. */
export async function installedCheckOptions(runtime: Runtime): Promise<OptionsSpec> {
  const merged: OptionsSpec = {};
  for (const definition of await installedSources(runtime))
    for (const [name, option] of Object.entries(definition.checkOptions ?? {})) merged[name] ??= option;
  return merged;
}

/** `check`: the installed sources with a check for which one of their own `check` flags was given. */
export async function sourceCheckRequests(
  runtime: Runtime,
  parsed: Record<string, unknown>,
): Promise<SourceCheckRequest[]> {
  const requests: SourceCheckRequest[] = [];
  for (const definition of await installedSources(runtime)) {
    if (!definition.check || !definition.checkOptions) continue;
    const values = pickDeclaredValues(definition.checkOptions, parsed);
    if (Object.keys(values).length > 0) requests.push({ definition, values, fromCli: true });
  }
  return requests;
}
