import {
  type BackupPlan,
  type BackupTarget,
  NexusError,
  type PlannedTransform,
  type ProviderRegistry,
  resolveOptions,
  type SourceDefinition,
  type TransformDefinition,
} from '@nexus-backup/core';
import { openRepository, type RepositoryRef } from './open-repository.js';
import type { OpsServices } from './services.js';

export interface ProviderValues {
  name: string;
  values: Record<string, unknown>;
  /** Where the values came from, for messages: `backup files` or `pipelines.db.source`. */
  path: string;
  fromCli: boolean;
  /** The flags the values were given as, where not `--<option>`: named in usage errors. */
  flagNames?: Readonly<Record<string, string>>;
}

export interface PlanInput {
  pipeline: string;
  source: ProviderValues;
  transforms: ProviderValues[];
  /** The transforms are the config's default (no `transforms:`): the source's preferred compressor replaces them. */
  defaultTransforms?: boolean;
  targets: RepositoryRef[];
}

/** Loads and validates every provider of a pipeline before anything is read or written. */
export async function buildBackupPlan(input: PlanInput, services: OpsServices): Promise<BackupPlan> {
  const registry = services.registry;
  const sourceDefinition = await registry.load('source', input.source.name);
  const sourceOptions = resolveProviderOptions(sourceDefinition, input.source, services.env);
  const transforms: PlannedTransform[] = [];
  const uses = withPreferredCompression(input, sourceDefinition, registry);
  rejectDuplicates(uses.map((use) => use.name));
  for (const use of uses) {
    const definition = await registry.load('transform', use.name);
    const options = resolveProviderOptions(definition, use, services.env);
    transforms.push({
      definition,
      version: registry.versionOf(definition),
      transform: await definition.create(options),
    });
  }
  const targets: BackupTarget[] = [];
  for (const ref of input.targets)
    targets.push({
      repository: await openRepository(ref, services, { create: true }),
      optional: ref.optional,
    });
  return {
    pipeline: input.pipeline,
    source: {
      definition: sourceDefinition,
      version: registry.versionOf(sourceDefinition),
      source: await sourceDefinition.create(sourceOptions),
      options: sourceOptions as Record<string, unknown>,
    },
    transforms,
    targets,
  };
}

/** A config pipeline without `transforms:` compresses like `backup` does: with the source's preferred compressor when installed. */
function withPreferredCompression(
  input: PlanInput,
  source: SourceDefinition,
  registry: ProviderRegistry,
): ProviderValues[] {
  const preferred = source.defaultCompression;
  if (!input.defaultTransforms || !preferred || !registry.isInstalled('transform', preferred))
    return input.transforms;
  const [first] = input.transforms;
  return [
    {
      name: preferred,
      values: {},
      path: first?.path ?? `pipelines.${input.pipeline}.transforms (default)`,
      fromCli: false,
    },
  ];
}

export function resolveProviderOptions(
  definition: SourceDefinition | TransformDefinition,
  use: ProviderValues,
  env: NodeJS.ProcessEnv,
): Record<string, unknown> {
  return resolveOptions(definition.options, {
    path: use.path,
    provider: definition.name,
    values: use.values,
    env,
    fromCli: use.fromCli,
    ...(use.flagNames ? { flagNames: use.flagNames } : {}),
  }) as Record<string, unknown>;
}

function rejectDuplicates(names: string[]): void {
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate) throw new NexusError('USAGE', `transform ${duplicate} is listed twice in one pipeline`);
}
