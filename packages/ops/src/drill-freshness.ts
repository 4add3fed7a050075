import { NexusError, toNexusError } from '@nexus-backup/core';
import type { CheckReport } from './check-repository.js';
import type { FreshnessProblem } from './freshness.js';
import { describeDatabase, lastSuccessfulDrills } from './history-store.js';
import { formatDuration } from './run-message.js';

/**
 * `check --max-drill-age 35d`: every checked pipeline needs a successful restore drill younger than
 * that in the history database (the guide's monthly restore test). Adds its problems to the report.
 */
export async function checkDrillAge(
  report: CheckReport,
  options: { historyDb: string | undefined; maxAgeMs: number; now?: Date },
): Promise<void> {
  if (!options.historyDb) {
    throw new NexusError(
      'USAGE',
      '--max-drill-age reads the drills from the history database, and there is none',
      {
        hint: 'pass --config with a file that has `history: { db: <PostgreSQL URL> }` (where `nexus-backup drill` records its runs)',
      },
    );
  }
  let drills: Map<string, Date>;
  try {
    drills = await lastSuccessfulDrills(options.historyDb);
  } catch (error) {
    throw new NexusError(
      'CONNECTION',
      `cannot read the drills from ${describeDatabase(options.historyDb)}: ${toNexusError(error).message}`,
      { cause: error },
    );
  }
  const now = options.now ?? new Date();
  for (const pipeline of report.pipelines) {
    const last = drills.get(pipeline.pipeline);
    const problem = (kind: FreshnessProblem['kind'], text: string) => {
      const found = { pipeline: pipeline.pipeline, kind, message: `${pipeline.pipeline}: ${text}` };
      pipeline.problems.push(found);
      pipeline.ok = false;
      report.problems.push(found);
    };
    const limit = formatDuration(options.maxAgeMs);
    if (!last) problem('no-drill', `no successful restore drill recorded (required within ${limit})`);
    else if (now.getTime() - last.getTime() > options.maxAgeMs) {
      problem(
        'drill-stale',
        `last successful restore drill was ${formatDuration(now.getTime() - last.getTime())} ago (max ${limit})`,
      );
    }
  }
  report.ok = report.problems.length === 0;
}
