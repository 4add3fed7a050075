import {
  type Repository,
  resolveOptions,
  type SourceCheckResult,
  type SourceDefinition,
} from '@nexus-backup/core';
import type { OpsServices } from './services.js';

/** One source's own check (pgbase: WAL archiving) with the values of its declared `checkOptions`. */
export interface SourceCheckRequest {
  definition: SourceDefinition;
  values: Record<string, unknown>;
  /** The values came from a command line (strings coerced, usage errors); else from a config or a program. */
  fromCli?: boolean;
}

/** Runs each requested source check against the repository; their problems, gauges and lines, together. */
export async function runSourceChecks(
  repository: Repository,
  requests: readonly SourceCheckRequest[],
  services: OpsServices,
): Promise<SourceCheckResult> {
  const result: SourceCheckResult = { problems: [], metrics: [], lines: [] };
  for (const { definition, values, fromCli } of requests) {
    if (!definition.check || !definition.checkOptions) continue;
    const options = resolveOptions(definition.checkOptions, {
      path: `check (${definition.name})`,
      provider: definition.name,
      values,
      env: services.env,
      fromCli: fromCli === true,
    });
    const one = await definition.check(repository, options, services.context());
    result.problems.push(...one.problems);
    result.metrics.push(...one.metrics);
    result.lines.push(...one.lines);
  }
  return result;
}
