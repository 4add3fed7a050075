import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RunContext } from './contracts.js';
import { toNexusError } from './errors.js';
import { VerifyingStream } from './hashing.js';
import type { ManifestArtifact } from './manifest.js';
import { ProgressStream } from './progress-stream.js';
import type { BackupEntry, Repository } from './repository.js';

export interface ArtifactCheck {
  file: string;
  ok: boolean;
  problem?: string;
}

export interface BackupCheck {
  pipeline: string;
  id: string;
  ok: boolean;
  artifacts: ArtifactCheck[];
}

/** Reads the stored bytes of one artifact and compares them with the manifest; needs no secret. */
export async function verifyArtifact(
  repository: Repository,
  backup: BackupEntry,
  artifact: ManifestArtifact,
  ctx: RunContext,
): Promise<ArtifactCheck> {
  try {
    const body = await repository.destination.get(
      repository.key(backup.pipeline, backup.id, artifact.file),
      ctx,
    );
    const discard = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    const check = new VerifyingStream(artifact.stored, `${backup.pipeline}@${backup.id}/${artifact.file}`);
    await pipeline([body, check, new ProgressStream(ctx.progress), discard], {
      signal: ctx.signal,
    });
    return { file: artifact.file, ok: true };
  } catch (error) {
    return { file: artifact.file, ok: false, problem: toNexusError(error, 'IO').message };
  }
}

export async function verifyBackup(
  repository: Repository,
  backup: BackupEntry,
  ctx: RunContext,
): Promise<BackupCheck> {
  const artifacts: ArtifactCheck[] = [];
  for (const artifact of backup.manifest.artifacts) {
    ctx.progress?.start(artifact.file, artifact.stored.bytes);
    artifacts.push(await verifyArtifact(repository, backup, artifact, ctx));
    ctx.progress?.done();
  }
  return { pipeline: backup.pipeline, id: backup.id, ok: artifacts.every((check) => check.ok), artifacts };
}
