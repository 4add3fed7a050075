import { type Duplex, PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CoalescingStream } from './coalesce.js';
import type {
  RestoreArtifact,
  RestoreReport,
  RunContext,
  Source,
  Transform,
  TransformDefinition,
} from './contracts.js';
import { NexusError } from './errors.js';
import { VerifyingStream } from './hashing.js';
import { LazyReadable } from './lazy-readable.js';
import type { ManifestArtifact } from './manifest.js';
import { defaultOptions } from './options.js';
import { ProgressStream, sharedProgress } from './progress-stream.js';
import type { ProviderRegistry } from './registry.js';
import type { BackupEntry, Repository } from './repository.js';
import { verifyArtifact } from './verify.js';

export interface DecodeStage {
  definition: TransformDefinition;
  transform: Transform;
}

export interface RestorePlan {
  repository: Repository;
  backup: BackupEntry;
  source: Source;
  /** One stage per manifest transform, in the manifest's (encode) order. */
  stages: DecodeStage[];
  target: Record<string, unknown>;
}

/**
 * Streams every artifact back through the decoders, checking the stored and the raw SHA-256 as bytes
 * flow; a mismatch makes the artifact stream fail at its end, so the source discards what it staged.
 */
export async function runRestore(plan: RestorePlan, ctx: RunContext): Promise<RestoreReport> {
  const { manifest } = plan.backup;
  if (plan.stages.length !== manifest.transforms.length) {
    throw new NexusError('INTERNAL', 'decode stages do not match the manifest transforms');
  }
  startDecodePreparation(plan, ctx);
  await verifyBeforeUnauthenticatedDecode(plan, ctx);
  // One line for the whole restore: a source may load several artifacts at once (postgres --jobs).
  const rawBytes = manifest.artifacts.reduce((sum, artifact) => sum + artifact.raw.bytes, 0);
  const progress =
    ctx.progress && sharedProgress(ctx.progress, `${plan.backup.pipeline}@${plan.backup.id}`, rawBytes);
  const restoreCtx = progress ? { ...ctx, progress } : ctx;
  const report = await plan.source.restore(restoreCtx, decodedArtifacts(plan, restoreCtx), plan.target);
  progress?.finish();
  return report;
}

/**
 * Starts every decoder's `prepareDecode` (aes: scrypt for the salt the manifest names, ~0.4 s) without
 * waiting, so it runs while the source connects and creates its target instead of after the first
 * artifact's header is read. Its outcome is ignored here: `decode` repeats what failed and says so.
 */
export function startDecodePreparation(plan: Pick<RestorePlan, 'backup' | 'stages'>, ctx: RunContext): void {
  plan.stages.forEach((stage, index) => {
    if (!stage.transform.prepareDecode) return;
    const params = plan.backup.manifest.transforms[index]?.params ?? {};
    Promise.resolve()
      .then(() => stage.transform.prepareDecode?.(ctx, params))
      .catch(() => undefined);
  });
}

/** Unauthenticated ciphers (openssl CBC) would hand out garbage before the hash check could fail. */
export async function verifyBeforeUnauthenticatedDecode(
  plan: Pick<RestorePlan, 'repository' | 'backup' | 'stages'>,
  ctx: RunContext,
): Promise<void> {
  const { manifest } = plan.backup;
  const unauthenticated = plan.stages.some((stage, index) => {
    const params = manifest.transforms[index]?.params ?? {};
    return stage.definition.authenticated?.(params) === false;
  });
  if (unauthenticated) {
    for (const artifact of manifest.artifacts) {
      const result = await verifyArtifact(plan.repository, plan.backup, artifact, ctx);
      if (!result.ok)
        throw new NexusError('INTEGRITY', result.problem ?? `${artifact.file} failed verification`);
    }
  }
}

/**
 * Every artifact of the backup, decoded and checked against both manifest hashes as it streams. Each
 * stream opens on its first read: a source that destroys an artifact's stream unread (a restore of some
 * tables) never downloads or decodes it.
 */
export async function* decodedArtifacts(
  plan: Pick<RestorePlan, 'repository' | 'backup' | 'stages'>,
  ctx: RunContext,
): AsyncIterable<RestoreArtifact> {
  for (const artifact of plan.backup.manifest.artifacts) {
    yield {
      name: artifact.name,
      stream: new LazyReadable(() =>
        openDecodedArtifact(plan.repository, plan.backup, plan.stages, artifact, ctx),
      ),
      rawBytes: artifact.raw.bytes,
      meta: artifact.meta,
    };
  }
}

/**
 * One artifact's raw bytes, decoded through `stages` (the manifest's order), erroring at its end when
 * the stored or the raw SHA-256 or size does not match the manifest.
 */
export async function openDecodedArtifact(
  repository: Repository,
  backup: BackupEntry,
  stages: readonly DecodeStage[],
  artifact: ManifestArtifact,
  ctx: RunContext,
): Promise<Readable> {
  const stored = await repository.destination.get(
    repository.key(backup.pipeline, backup.id, artifact.file),
    ctx,
  );
  const decoders = [];
  try {
    for (let index = stages.length - 1; index >= 0; index -= 1) {
      const stage = stages[index] as DecodeStage;
      const decoder = await stage.transform.decode(ctx, backup.manifest.transforms[index]?.params ?? {});
      decoders.push(namingArtifact(decoder, artifact.file, stage.definition.name));
    }
  } catch (error) {
    stored.destroy(); // a wrong passphrase or bad parameters: release the object's handle
    throw error;
  }
  const output = new PassThrough();
  const progress = ctx.progress;
  progress?.start(artifact.file, artifact.raw.bytes);
  pipeline(
    [
      stored,
      new CoalescingStream(),
      new VerifyingStream(artifact.stored, `stored ${artifact.file}`),
      ...decoders,
      new VerifyingStream(artifact.raw, `decoded ${artifact.name}`),
      new ProgressStream(progress),
      output,
    ],
    { signal: ctx.signal },
  ).then(
    () => progress?.done(),
    (error: unknown) => output.destroy(error as Error),
  );
  return output;
}

/**
 * A decoder's integrity error (`gzip data is damaged (...)`) does not know which artifact it read; the
 * name is added where the decoder is destroyed, since pipeline hands that same error to every stage.
 * zlib's own errors (`Z_*`, and zstd's `ZSTD_*`, e.g. `Unknown frame descriptor`) from a decoder that
 * does not report them itself become the same integrity error.
 */
function namingArtifact(decoder: Duplex, file: string, stage: string): Duplex {
  const destroy = decoder._destroy.bind(decoder);
  decoder._destroy = (error, callback) =>
    destroy(error, (raw) => {
      const final = asDamaged(raw, stage);
      if (!(final instanceof NexusError) || final.code !== 'INTEGRITY' || final.message.includes(file))
        return callback(final);
      callback(
        new NexusError('INTEGRITY', `artifact ${file}: ${final.message}`, {
          provider: final.provider,
          cause: final.cause ?? final,
          hint: final.hint,
        }),
      );
    });
  return decoder;
}

function asDamaged(error: Error | null | undefined, stage: string): Error | null | undefined {
  const code = (error as NodeJS.ErrnoException | null | undefined)?.code;
  if (!error || error instanceof NexusError || typeof code !== 'string') return error;
  if (!code.startsWith('Z_') && !code.startsWith('ZSTD_')) return error;
  return new NexusError('INTEGRITY', `${stage} data is damaged (${error.message})`, {
    provider: stage,
    cause: error,
    hint: 'restore an older backup or another copy (`nexus-backup list`); `nexus-backup verify` names the damaged ones',
  });
}

/** The decoders a manifest names, created from their declared defaults (decode reads the manifest's params). */
export async function loadDecodeStages(
  registry: ProviderRegistry,
  transforms: readonly { provider: string }[],
): Promise<DecodeStage[]> {
  const stages: DecodeStage[] = [];
  for (const transform of transforms) {
    const definition = await registry.load('transform', transform.provider);
    stages.push({ definition, transform: await definition.create(defaultOptions(definition.options)) });
  }
  return stages;
}
