import { defaultOptions, type NexusConfig, NexusError, type PipelineConfig } from '@nexus-backup/core';
import type { DrillTarget } from './drill-run.js';
import { pipelineRepositories } from './pipeline.js';
import type { OpsServices } from './services.js';

/** Can backups of this source be drilled? Asks its definition (a created source with a `drill` method). */
export async function sourceCanDrill(name: string, services: OpsServices): Promise<boolean> {
  const definition = await services.registry.load('source', name);
  const source = await definition.create(defaultOptions(definition.options));
  return typeof source.drill === 'function';
}

/**
 * The pipelines `drill --config` drills: the named ones, else every pipeline whose source can be
 * drilled. Naming a backup (`db@ID`) is a usage mistake here: drills from a config take the latest.
 */
export async function pipelinesToDrill(
  config: NexusConfig,
  names: string[],
  services: OpsServices,
): Promise<PipelineConfig[]> {
  const all = Object.values(config.pipelines);
  if (names.length === 0) {
    const drillable: PipelineConfig[] = [];
    for (const pipeline of all)
      if (await sourceCanDrill(pipeline.source.use, services)) drillable.push(pipeline);
    if (drillable.length === 0) {
      throw new NexusError('USAGE', `${config.file} has no pipeline whose source can be drilled`, {
        hint: 'name a pipeline, or drill a repository with --from',
      });
    }
    return drillable;
  }
  return names.map((name) => {
    if (name.includes('@')) {
      throw new NexusError(
        'USAGE',
        `"${name}" names a backup; with --config alone drills take each pipeline's latest`,
        {
          hint: 'add --from REPOSITORY to drill one backup by id',
        },
      );
    }
    const pipeline = config.pipelines[name];
    if (!pipeline) {
      throw new NexusError('USAGE', `no pipeline "${name}" in ${config.file}`, {
        hint: `known pipelines: ${all.map((p) => p.name).join(', ') || '(none)'}`,
      });
    }
    return pipeline;
  });
}

/** A pipeline's latest backup in its first required repository (else its first one). */
export function latestBackupTarget(
  pipeline: PipelineConfig,
  extra: Pick<DrillTarget, 'checks'> & { db?: string },
): DrillTarget {
  const repositories = pipelineRepositories(pipeline);
  const repository = repositories.find((candidate) => !candidate.optional) ?? repositories[0];
  if (!repository) throw new NexusError('CONFIG', `${pipeline.path}.to names no repository`);
  return { selector: `${pipeline.name}@latest`, repository, pipeline, ...extra };
}
