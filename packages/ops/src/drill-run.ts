import { type DecodeStage, defaultOptions, EXIT, type PipelineConfig, runDrill } from '@nexus-backup/core';
import type { RunHooks } from './hooks.js';
import { type ObservedDrill, observeDrill } from './observe-drill.js';
import { openRepository, type RepositoryRef } from './open-repository.js';
import type { OpsServices } from './services.js';

/** One drill to run: a backup selector in one repository, with the pipeline's config when there is one. */
export interface DrillTarget {
  /** `PIPELINE`, `PIPELINE@ID`, `PIPELINE@latest`, `@ID`, or undefined for the repository's only pipeline. */
  selector: string | undefined;
  repository: RepositoryRef;
  pipeline?: PipelineConfig;
  /** `--db`: the server for the scratch database, before the pipeline's `drill.db` and source `db`. */
  db?: string;
  /** `--check`: more SQL checks on top of the pipeline's `drill.checks`. */
  checks: string[];
}

/** Drills one backup and records it (history, webhooks); never throws, the outcome is in the result. */
export async function drillBackup(
  target: DrillTarget,
  services: OpsServices,
  hooks: RunHooks,
): Promise<ObservedDrill> {
  const pipelineName = target.pipeline?.name ?? target.selector?.split('@')[0] ?? '';
  return observeDrill(
    services,
    hooks,
    { pipeline: pipelineName || '(unnamed)', repository: target.repository.label },
    async (found) => {
      const ctx = services.context();
      const repository = await openRepository(target.repository, services);
      const backup = await repository.find(target.selector, ctx);
      found(backup.id);
      const { registry } = services;
      const definition = await registry.load('source', backup.manifest.source.provider);
      const stages: DecodeStage[] = [];
      for (const transform of backup.manifest.transforms) {
        const transformDefinition = await registry.load('transform', transform.provider);
        stages.push({
          definition: transformDefinition,
          transform: await transformDefinition.create(defaultOptions(transformDefinition.options)),
        });
      }
      const source = await definition.create(defaultOptions(definition.options));
      const db =
        target.db ?? target.pipeline?.drill?.db ?? sourceDb(target.pipeline) ?? services.env.DATABASE_URL;
      return runDrill(
        {
          repository,
          backup,
          source,
          stages,
          options: {
            ...(db ? { db } : {}),
            checks: [...(target.pipeline?.drill?.checks ?? []), ...target.checks],
          },
        },
        ctx,
      );
    },
  );
}

/** The pipeline's own database: a drill on that server by default, as a restore would go there. */
function sourceDb(pipeline: PipelineConfig | undefined): string | undefined {
  const db = pipeline?.source.options.db;
  return typeof db === 'string' ? db : undefined;
}

/** 0 when the drill matched; 2 when it failed or differed (64 for a usage mistake); 1 when only a hook failed. */
export function drillExitCode(observed: ObservedDrill): number {
  if (observed.error) return observed.error.exitCode;
  const own = observed.result?.ok ? EXIT.ok : EXIT.failed;
  return Math.max(own, observed.hookFailed ? EXIT.warnings : EXIT.ok);
}
