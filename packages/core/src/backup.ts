import { hostname } from 'node:os';
import type { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CoalescingStream } from './coalesce.js';
import type {
  Artifact,
  Json,
  RunContext,
  Source,
  SourceDefinition,
  Transform,
  TransformDefinition,
} from './contracts.js';
import { NexusError, toNexusError } from './errors.js';
import { FanOut } from './fan-out.js';
import { HashingStream } from './hashing.js';
import { acquireLease, type Lease } from './lease.js';
import { incompleteWarnings } from './left-out.js';
import {
  assertPipelineName,
  createBackupId,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type Manifest,
  type ManifestArtifact,
} from './manifest.js';
import { ProgressStream, sharedProgress } from './progress-stream.js';
import type { Repository } from './repository.js';
import { TOOL_VERSION } from './version.js';

export interface PlannedSource {
  definition: SourceDefinition;
  version: string;
  source: Source;
  options: Record<string, unknown>;
}

export interface PlannedTransform {
  definition: TransformDefinition;
  version: string;
  transform: Transform;
}

export interface BackupTarget {
  repository: Repository;
  /** An optional target that fails turns the run into a warning (exit 1) instead of a failure. */
  optional: boolean;
}

export interface BackupPlan {
  pipeline: string;
  source: PlannedSource;
  transforms: PlannedTransform[];
  targets: BackupTarget[];
}

export interface TargetOutcome {
  repository: string;
  ok: boolean;
  error?: NexusError;
}

export interface BackupResult {
  manifest: Manifest;
  targets: TargetOutcome[];
  /** Problems that did not fail the run, e.g. an optional destination that failed. */
  warnings: string[];
}

/** Refuses pipelines that break a source's policy before anything is read or written. */
export function checkBackupPolicy(plan: BackupPlan): void {
  assertPipelineName(plan.pipeline);
  if (plan.targets.length === 0) {
    throw new NexusError('USAGE', 'no destination given', { hint: 'add --to <repository>' });
  }
  const { definition, options } = plan.source;
  const encrypted = plan.transforms.some((stage) => stage.definition.encrypts);
  if (definition.requiresEncryption?.(options) && !encrypted) {
    throw new NexusError('POLICY', `${definition.name} backups must be encrypted`, {
      provider: definition.name,
      hint: 'add --encrypt (or `{ use: aes }` to the pipeline transforms), or pass --allow-plaintext to store them unencrypted',
    });
  }
}

/**
 * Runs one backup: every artifact is encoded once and streamed to every target; each target gets its
 * manifest only after all its artifacts are stored, so a crash at any point leaves no visible backup.
 */
export async function runBackup(plan: BackupPlan, callerCtx: RunContext): Promise<BackupResult> {
  checkBackupPolicy(plan);
  const prepared = prepareTransforms(plan.transforms, callerCtx);
  const startedAt = new Date();
  const id = createBackupId(startedAt);
  const live = new Map(plan.targets.map((target) => [target, undefined as NexusError | undefined]));
  const warnings: string[] = [];
  const artifacts: ManifestArtifact[] = [];

  const failTarget = (target: BackupTarget, error: unknown) => {
    const earlier = live.get(target);
    // Artifacts stored side by side may each see the same repository fail: it is reported once.
    if (earlier) {
      if (!target.optional) throw earlier;
      return;
    }
    const failure = toNexusError(error, 'IO');
    live.set(target, failure);
    if (!target.optional) throw failure;
    warnings.push(`optional repository ${target.repository.label} failed: ${failure.message}`);
  };
  const liveTargets = () => plan.targets.filter((target) => live.get(target) === undefined);
  // Leases first: a prune that sees this backup's folder also sees who is writing it.
  const leases: Lease[] = [];
  for (const target of plan.targets) {
    try {
      leases.push(
        await acquireLease(target.repository, [plan.pipeline], 'backup', callerCtx, { covers: id }),
      );
    } catch (error) {
      try {
        failTarget(target, error);
      } catch (fatal) {
        await Promise.all(leases.map((lease) => lease.release()));
        throw fatal;
      }
    }
  }
  // A lease that could not be renewed for long may be taken as stale by a prune elsewhere: stop then.
  const ctx = {
    ...callerCtx,
    signal: AbortSignal.any([callerCtx.signal, ...leases.map((lease) => lease.signal)]),
  };

  try {
    // The manifest's facts are gathered while the source starts its backup (for postgres a connection
    // and a few queries fewer before the first COPY); a failed describe cancels it and is the error.
    const describeFailed = new AbortController();
    const describing = plan.source.source.describe(ctx);
    describing.catch((error: unknown) => describeFailed.abort(error));
    const storeCtx = { ...ctx, signal: AbortSignal.any([ctx.signal, describeFailed.signal]) };
    const stored = await storeArtifacts(plan, id, storeCtx, liveTargets, failTarget, prepared).catch(
      async (error: unknown) => {
        await describing;
        throw error;
      },
    );
    const description = await describing;
    // A source that yields nothing never encodes: a failed prepare (a wrong setting) still fails the run.
    await prepared;
    artifacts.push(...stored);
    for (const artifact of stored) warnings.push(...incompleteWarnings(artifact.name, artifact.meta));
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      id,
      pipeline: plan.pipeline,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      host: hostname(),
      tool: { name: 'nexus-backup', version: TOOL_VERSION },
      source: { provider: plan.source.definition.name, version: plan.source.version, description },
      transforms: plan.transforms.map((stage) => ({
        provider: stage.definition.name,
        version: stage.version,
        extension: stage.definition.extension,
        params: stage.transform.params() as { [key: string]: Json },
      })),
      artifacts,
    };
    for (const target of liveTargets()) {
      try {
        await assertArtifactsStored(target.repository, manifest, ctx);
        await target.repository.writeManifest(manifest, ctx);
      } catch (error) {
        failTarget(target, error);
      }
    }
    if (liveTargets().length === 0) {
      throw new NexusError('IO', 'every repository failed', { hint: warnings.join('; ') });
    }
    await removePartialBackups(plan, id, ctx, (target) => live.get(target) !== undefined);
    const targets = plan.targets.map((target) => ({
      repository: target.repository.label,
      ok: live.get(target) === undefined,
      ...(live.get(target) ? { error: live.get(target) } : {}),
    }));
    return { manifest, targets, warnings };
  } catch (error) {
    await removePartialBackups(plan, id, ctx, () => true);
    throw toNexusError(error, 'IO', plan.source.definition.name);
  } finally {
    await Promise.all(leases.map((lease) => lease.release()));
  }
}

/**
 * Stores the source's artifacts, up to `Source.concurrentArtifacts` at once: the next one is pulled
 * while earlier ones are still encoded and written (each through its own transforms, so N artifacts
 * compress on N streams). Returns them in yield order. The first failure cancels the others (the
 * source sees the abort through its context) and is thrown once every store has stopped.
 */
async function storeArtifacts(
  plan: BackupPlan,
  id: string,
  ctx: RunContext,
  liveTargets: () => BackupTarget[],
  failTarget: (target: BackupTarget, error: unknown) => void,
  prepared: Promise<void>,
): Promise<ManifestArtifact[]> {
  const limit = Math.max(1, Math.floor(plan.source.source.concurrentArtifacts ?? 1));
  const extensions = plan.transforms.map((stage) => stage.definition.extension).join('');
  const cancel = new AbortController();
  const shared =
    limit > 1 && ctx.progress
      ? sharedProgress(ctx.progress, `${plan.source.definition.name} artifacts`)
      : undefined;
  const progress = shared ?? ctx.progress;
  const storeCtx: RunContext = {
    ...ctx,
    signal: AbortSignal.any([ctx.signal, cancel.signal]),
    ...(progress ? { progress } : {}),
  };
  const stored: (ManifestArtifact | undefined)[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    if (failure) return;
    failure = { error };
    cancel.abort(error);
  };
  const store = async (artifact: Artifact, index: number) => {
    const file = `${artifact.name}${extensions}`;
    progress?.start(file, artifact.expectedBytes);
    const digests = await storeArtifact(
      artifact.stream,
      file,
      liveTargets(),
      plan,
      id,
      storeCtx,
      failTarget,
      prepared,
    );
    progress?.done();
    // The meta is read once the stream has ended: a source may fill it in as it streams (row counts).
    stored[index] = {
      name: artifact.name,
      file,
      stored: digests.stored,
      raw: digests.raw,
      meta: artifact.meta ?? {},
    };
  };
  try {
    for await (const artifact of plan.source.source.backup(storeCtx)) {
      if (failure || liveTargets().length === 0) {
        artifact.stream.destroy();
        break;
      }
      const task = store(artifact, stored.length).catch(fail);
      stored.push(undefined);
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
      while (inFlight.size >= limit) await Promise.race(inFlight);
      if (failure) break;
    }
  } catch (error) {
    fail(error);
  }
  await Promise.all(inFlight);
  shared?.finish();
  if (failure) throw failure.error;
  return stored.filter((artifact): artifact is ManifestArtifact => artifact !== undefined);
}

/**
 * The manifest is the commit marker: before writing it, look that every artifact is listed at the
 * size written, so a backup whose objects vanished (a concurrent prune, an operator, a store losing a
 * write) is never committed.
 */
async function assertArtifactsStored(
  repository: Repository,
  manifest: Manifest,
  ctx: RunContext,
): Promise<void> {
  const listed = new Map<string, number>();
  for await (const object of repository.destination.list(`${manifest.pipeline}/${manifest.id}/`, ctx)) {
    listed.set(object.key, object.bytes);
  }
  for (const artifact of manifest.artifacts) {
    const key = repository.key(manifest.pipeline, manifest.id, artifact.file);
    const bytes = listed.get(key);
    if (bytes === artifact.stored.bytes) continue;
    const found =
      bytes === undefined ? 'is missing' : `is ${bytes} bytes, ${artifact.stored.bytes} were written`;
    throw new NexusError('INTEGRITY', `${repository.label}/${key} ${found}; no manifest written`, {
      hint: 'something removed or changed it while the backup ran (a prune from an older nexus-backup, an operator, the store); run the backup again',
    });
  }
}

async function storeArtifact(
  input: Readable,
  file: string,
  targets: BackupTarget[],
  plan: BackupPlan,
  id: string,
  ctx: RunContext,
  failTarget: (target: BackupTarget, error: unknown) => void,
  prepared: Promise<void>,
): Promise<{ raw: ReturnType<HashingStream['digest']>; stored: ReturnType<HashingStream['digest']> }> {
  const raw = new HashingStream();
  try {
    await prepared;
  } catch (error) {
    // Nothing of this artifact was read: its stream would otherwise hold a connection open.
    input.destroy();
    throw error;
  }
  const encoders = await Promise.all(plan.transforms.map((stage) => stage.transform.encode(ctx)));
  // Without transforms the stored bytes are the raw bytes: hashing them twice cost ~20% of the CPU
  // of an uncompressed backup to SFTP.
  const stored = encoders.length > 0 ? new HashingStream() : undefined;
  const fanOut = new FanOut(targets.length);
  // A required target failing must stop the whole stream; an optional one is only dropped.
  const abort = new AbortController();
  const signal = AbortSignal.any([ctx.signal, abort.signal]);
  const puts = targets.map(async (target, index) => {
    const branch = fanOut.branches[index] as PassThrough;
    try {
      await target.repository.destination.put(target.repository.key(plan.pipeline, id, file), branch, {
        ...ctx,
        signal,
      });
    } catch (error) {
      fanOut.drop(branch);
      try {
        failTarget(target, error);
      } catch (fatal) {
        abort.abort(fatal);
        throw fatal;
      }
    }
  });
  const stages = [
    input,
    new CoalescingStream(),
    raw,
    new ProgressStream(ctx.progress),
    ...encoders,
    ...(stored ? [stored] : []),
    fanOut,
  ];
  const flow = pipeline(stages, {
    signal,
  });
  const [flowResult, ...putResults] = await Promise.allSettled([flow, ...puts]);
  // The first cause wins: a failed required target aborts the flow and the other puts, a failed flow fails every put.
  if (abort.signal.aborted) throw abort.signal.reason;
  if (flowResult?.status === 'rejected') throw flowResult.reason;
  const fatal = putResults.find((result) => result.status === 'rejected');
  if (fatal?.status === 'rejected') throw fatal.reason;
  return { raw: raw.digest(), stored: (stored ?? raw).digest() };
}

/**
 * Starts every transform's `prepare` at once (the KDF runs on libuv's thread pool while the source
 * plans). The promise is marked handled here, so a run that fails before any artifact (a lease, the
 * source's describe) reports its own error and leaves no unhandled rejection; a prepare that fails
 * is reported with its provider's name.
 */
function prepareTransforms(transforms: PlannedTransform[], ctx: RunContext): Promise<void> {
  const prepared = Promise.all(
    transforms.map(async (stage) => {
      try {
        await stage.transform.prepare?.(ctx);
      } catch (error) {
        throw toNexusError(error, 'IO', stage.definition.name);
      }
    }),
  ).then(() => undefined);
  prepared.catch(() => undefined);
  return prepared;
}

/** Best effort: a leftover without a manifest is invisible anyway, and prune removes what this misses. */
async function removePartialBackups(
  plan: BackupPlan,
  id: string,
  ctx: RunContext,
  shouldRemove: (target: BackupTarget) => boolean,
): Promise<void> {
  const cleanupCtx = { ...ctx, signal: new AbortController().signal };
  for (const target of plan.targets.filter(shouldRemove)) {
    try {
      await target.repository.deleteBackup(plan.pipeline, id, cleanupCtx);
    } catch (error) {
      ctx.log.warn(
        `could not remove the partial backup ${plan.pipeline}/${id} from ${target.repository.label}: ${toNexusError(error).message}; prune will remove it`,
      );
    }
  }
}
