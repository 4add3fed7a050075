import type { Json, Repository, RunContext } from '@nexus-backup/core';
import { DEFAULT_SEGMENT_BYTES, lsnSegment, parseWalFileName } from './wal-names.js';

/** The artifact of a base backup that carries its WAL facts (written after pg_backup_stop). */
export const LABEL_ARTIFACT = 'backup_label';
export const DATA_ARTIFACT = 'pgdata.tar';
export const TABLESPACE_MAP_ARTIFACT = 'tablespace_map';

/** What a base backup's `backup_label` artifact meta records; the WAL it needs starts at `startWal`. */
export interface BaseBackupWal {
  startLsn: string;
  stopLsn: string;
  timeline: number;
  startWal: string;
  stopWal: string;
  stopTime: string;
  walPipeline: string;
  segmentBytes: number;
  serverVersion: string;
}

export interface BaseBackupInfo extends BaseBackupWal {
  pipeline: string;
  id: string;
  startSegment: number;
  stopSegment: number;
}

export function toWalMeta(wal: BaseBackupWal): { [key: string]: Json } {
  return { ...wal };
}

export function readWalMeta(meta: { [key: string]: Json }): BaseBackupWal | undefined {
  const ok =
    typeof meta.startLsn === 'string' &&
    typeof meta.stopLsn === 'string' &&
    typeof meta.timeline === 'number' &&
    typeof meta.startWal === 'string' &&
    typeof meta.walPipeline === 'string';
  if (!ok) return undefined;
  return {
    ...(meta as unknown as BaseBackupWal),
    segmentBytes: typeof meta.segmentBytes === 'number' ? meta.segmentBytes : DEFAULT_SEGMENT_BYTES,
  };
}

/** Every complete pgbase backup in a repository (any pipeline) that archives into `walPipeline`. */
export async function baseBackupsFor(
  repository: Repository,
  walPipeline: string | undefined,
  ctx: RunContext,
): Promise<BaseBackupInfo[]> {
  const scan = await repository.scan(ctx);
  const found: BaseBackupInfo[] = [];
  for (const backup of scan.backups) {
    if (backup.manifest.source.provider !== 'pgbase') continue;
    const label = backup.manifest.artifacts.find((artifact) => artifact.name === LABEL_ARTIFACT);
    const wal = label ? readWalMeta(label.meta) : undefined;
    if (!wal || (walPipeline !== undefined && wal.walPipeline !== walPipeline)) continue;
    const start = parseWalFileName(wal.startWal);
    if (!start?.segment) continue;
    found.push({
      ...wal,
      pipeline: backup.pipeline,
      id: backup.id,
      startSegment: lsnSegment(wal.startLsn, wal.segmentBytes),
      stopSegment: lsnSegment(wal.stopLsn, wal.segmentBytes),
    });
  }
  return found;
}
