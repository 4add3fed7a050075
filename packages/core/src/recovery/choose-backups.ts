import type { NexusConfig, RepositoryConfig } from '../config.js';
import type { RunContext } from '../contracts.js';
import { NexusError, toNexusError } from '../errors.js';
import { backupIdTime, isBackupId } from '../manifest.js';
import type { BackupEntry, Repository } from '../repository.js';
import { verifyBackup } from '../verify.js';

export interface ChosenBackup {
  pipeline: string;
  repository: Repository;
  backup: BackupEntry;
}

/**
 * `--at`: `latest` (or nothing), a backup id (its time: every pipeline's newest backup at or before
 * it), or a time (`2026-12-01 03:00`, read as UTC unless it names an offset).
 */
export function parseRecoveryPoint(at: string | undefined): Date | undefined {
  if (at === undefined || at === 'latest') return undefined;
  if (isBackupId(at)) {
    const time = backupIdTime(at) as Date;
    return new Date(time.getTime() + 999); // ids have one-second resolution; the backup itself qualifies
  }
  const iso = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(at.trim())
    ? `${at.trim().replace(' ', 'T')}Z`
    : at.trim();
  const time = Date.parse(iso);
  if (Number.isNaN(time)) {
    throw new NexusError('USAGE', `--at "${at}" is not latest, a backup id or a time`, {
      hint: 'e.g. --at latest, --at 20261201T030000Z-3f9a1c or --at "2026-12-01 03:00" (UTC)',
    });
  }
  return new Date(time);
}

/**
 * For one pipeline, the newest backup at or before `at` whose stored bytes match its manifest, from
 * the first of the pipeline's repositories that has one. Damaged or unreachable ones are named in
 * `warnings`, never taken silently.
 */
export async function chooseBackup(
  config: NexusConfig,
  pipeline: string,
  at: Date | undefined,
  openRepository: (ref: RepositoryConfig) => Promise<Repository>,
  ctx: RunContext,
  warnings: string[],
): Promise<ChosenBackup> {
  const refs = config.pipelines[pipeline]?.to ?? [];
  for (const ref of refs) {
    let repository: Repository;
    let backups: BackupEntry[];
    try {
      repository = await openRepository(ref);
      backups = (await repository.scan(ctx, pipeline)).backups;
    } catch (error) {
      warnings.push(`${pipeline}: repository ${ref.name ?? ref.url} skipped: ${toNexusError(error).message}`);
      continue;
    }
    const candidates = backups.filter((backup) => !at || backup.time <= at).reverse();
    for (const backup of candidates) {
      const check = await verifyBackup(repository, backup, ctx);
      if (check.ok) return { pipeline, repository, backup };
      const problem = check.artifacts.find((artifact) => !artifact.ok)?.problem ?? 'failed verification';
      warnings.push(`${pipeline}@${backup.id} in ${repository.label} skipped: ${problem}`);
    }
  }
  const when = at ? ` at or before ${at.toISOString()}` : '';
  throw new NexusError('NOT_FOUND', `no verified backup of pipeline ${pipeline}${when} in its repositories`, {
    hint: `see what exists with: nexus-backup list ${pipeline}`,
  });
}
