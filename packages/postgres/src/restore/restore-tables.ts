import {
  NexusError,
  type OptionValues,
  type RestoreArtifact,
  type RestoreReport,
  type RunContext,
} from '@nexus-backup/core';
import { restoreSql, sqlRestoreOptions } from './index.js';
import { selectTables } from './select-tables.js';

/**
 * `restore --table T [--table ...] [--data-only]`: the selected tables of a per-table backup (and what
 * they need) into a new or empty database or a file; with --data-only only their rows and sequence
 * values, into a database that has the schema. What had to be left out comes back as warnings (exit 1).
 */
export async function restoreTables(
  ctx: RunContext,
  iterator: AsyncIterator<RestoreArtifact>,
  target: OptionValues,
): Promise<RestoreReport> {
  const tables = Array.isArray(target.table) ? target.table.map(String) : [];
  const dataOnly = target.dataOnly === true;
  if (typeof target.toDb === 'string' || target.dryRun === true || target.globalsOnly === true) {
    throw new NexusError('USAGE', '--table cannot be combined with --to-db, --dry-run or --globals-only', {
      provider: 'postgres',
      hint: 'restore the tables with --create-db NAME, --db URL or --to-file FILE',
    });
  }
  if (dataOnly && typeof target.createDb === 'string') {
    throw new NexusError(
      'USAGE',
      '--data-only restores rows into an existing schema, not into a new database',
      {
        provider: 'postgres',
        hint: 'give --db URL of the database that has the tables (or --to-file), without --create-db',
      },
    );
  }
  const selection = await selectTables(iterator, { tables, dataOnly });
  const report = await restoreSql({
    input: selection.script,
    ...sqlRestoreOptions(target, selection.firstMeta),
    allowNonEmpty: dataOnly || selection.dataOnlyBackup,
    ctx,
  });
  const details = (report.details ?? {}) as Record<string, unknown>;
  return {
    lines: [...report.lines, `tables: ${selection.tables.join(', ')}${dataOnly ? ' (rows only)' : ''}`],
    details: { ...(details as RestoreReport['details'] & object), selectedTables: selection.tables },
    ...(selection.warnings.length > 0 ? { warnings: selection.warnings } : {}),
  };
}
