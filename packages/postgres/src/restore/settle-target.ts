import { NexusError, type RestoreReport, type RunContext } from '@nexus-backup/core';
import { removeDeadPartials } from './partial-files.js';
import { redactConnectionUrl } from './redact-url.js';
import { dropDeadTemporaryDatabases, validateDatabaseName } from './target-database.js';

/**
 * `nexus-backup cleanup` for postgres targets: the partial files of dead restores to `toFile`, and
 * the temporary databases of dead restores into `createDb` on the server of `db`.
 */
export async function settleTarget(
  ctx: RunContext,
  target: { db?: string; createDb?: string; toFile?: string },
): Promise<RestoreReport> {
  const lines: string[] = [];
  if (target.toFile !== undefined) {
    for (const path of await removeDeadPartials(target.toFile))
      lines.push(`removed ${path}, left by a killed restore`);
  }
  if (target.createDb !== undefined) {
    if (!target.createDb || target.db === undefined) {
      throw new NexusError('USAGE', 'cleanup needs the database name and its server', {
        provider: 'postgres',
        hint: 'pass --create-db NAME --db URL (or DATABASE_URL), as the restore had them',
      });
    }
    validateDatabaseName(target.createDb);
    for (const name of await dropDeadTemporaryDatabases(target.db, target.createDb)) {
      lines.push(
        `dropped ${name} on ${redactConnectionUrl(target.db)}, left by a killed restore into "${target.createDb}"`,
      );
    }
  }
  ctx.signal.throwIfAborted();
  return { lines: lines.length > 0 ? lines : ['nothing left by killed restores'] };
}
