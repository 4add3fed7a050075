import { NexusError, type OptionValues } from '@nexus-backup/core';

/** The live database's URL of a recovery item (no pg import here: `describeLive` runs before any work). */
export function liveUrl(target: OptionValues): string {
  if (typeof target.db !== 'string' || target.db === '') {
    throw new NexusError('CONFIG', 'the database to recover is unknown', {
      provider: 'postgres',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config file's own ${VAR} syntax
      hint: "set the pipeline source's db (e.g. ${DATABASE_URL}) or db: on the recovery.restore item",
    });
  }
  return target.db;
}
