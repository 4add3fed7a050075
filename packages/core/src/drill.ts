import type { RunContext, Source } from './contracts.js';
import type { DrillCheck, DrillOptions } from './drill-contract.js';
import { NexusError } from './errors.js';
import type { BackupEntry, Repository } from './repository.js';
import {
  type DecodeStage,
  decodedArtifacts,
  startDecodePreparation,
  verifyBeforeUnauthenticatedDecode,
} from './restore.js';

export interface DrillPlan {
  repository: Repository;
  backup: BackupEntry;
  source: Source;
  /** One stage per manifest transform, in the manifest's (encode) order. */
  stages: DecodeStage[];
  options: Omit<DrillOptions, 'pipeline' | 'backupId'>;
}

/** A finished drill: `ok` only when the restore succeeded and every check matched. */
export interface DrillResult {
  pipeline: string;
  backupId: string;
  repository: string;
  source: string;
  ok: boolean;
  checks: DrillCheck[];
  notes: string[];
  facts: string[];
  restoreMs: number;
  /** Decoded bytes streamed into the restore (every artifact, checked against the manifest). */
  bytesRestored: number;
  startedAt: Date;
  finishedAt: Date;
}

/**
 * Restores a backup into the source's own scratch place, checks it against what the backup recorded,
 * and lets the source remove the scratch place again. The repository is only read. A restore that
 * fails throws (the source has already cleaned up); a restore that worked but differs returns ok=false.
 */
export async function runDrill(plan: DrillPlan, ctx: RunContext): Promise<DrillResult> {
  const { backup } = plan;
  const provider = backup.manifest.source.provider;
  if (!plan.source.drill) {
    throw new NexusError('USAGE', `${provider} backups cannot be drilled (${backup.pipeline}@${backup.id})`, {
      provider,
      hint: 'drill postgres, files and credentials backups; restore other sources with `nexus-backup restore`',
    });
  }
  if (plan.stages.length !== backup.manifest.transforms.length) {
    throw new NexusError('INTERNAL', 'decode stages do not match the manifest transforms');
  }
  const startedAt = new Date();
  startDecodePreparation(plan, ctx);
  await verifyBeforeUnauthenticatedDecode(plan, ctx);
  const report = await plan.source.drill(ctx, decodedArtifacts(plan, ctx), {
    ...plan.options,
    pipeline: backup.pipeline,
    backupId: backup.id,
  });
  return {
    pipeline: backup.pipeline,
    backupId: backup.id,
    repository: plan.repository.label,
    source: provider,
    ok: report.checks.every((check) => check.ok),
    checks: report.checks,
    notes: report.notes,
    facts: report.facts,
    restoreMs: report.restoreMs,
    bytesRestored: backup.manifest.artifacts.reduce((total, artifact) => total + artifact.raw.bytes, 0),
    startedAt,
    finishedAt: new Date(),
  };
}
