import { isBackupId, NexusError, PIPELINE_NAME } from '@nexus-backup/core';

const FORMS = 'PIPELINE, PIPELINE@latest, PIPELINE@ID or @ID (an ID looks like 20261126T051822Z-3f9a1c)';

/**
 * Backup selectors are checked whole before any repository is read: `db@latest@junk` or `db@yesterday`
 * is a typo to report, not something to read as `db@latest`.
 */
export function assertSelector(selector: string | undefined): void {
  if (selector === undefined) return;
  const parts = selector.split('@');
  const [pipeline = '', id] = parts;
  const fail = (problem: string): never => {
    throw new NexusError('USAGE', `invalid backup selector "${selector}": ${problem}`, {
      hint: `use ${FORMS}`,
    });
  };
  if (parts.length > 2) fail('more than one "@"');
  if (pipeline === '' && id === undefined) fail('it is empty');
  if (pipeline !== '' && !PIPELINE_NAME.test(pipeline)) fail(`"${pipeline}" is not a pipeline name`);
  if (id !== undefined && id !== 'latest' && !isBackupId(id))
    fail(`"${id}" is neither "latest" nor a backup ID`);
}
