import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RunContext } from './contracts.js';
import { EXIT, exitCodeFor, toNexusError } from './errors.js';
import { VerifyingStream } from './hashing.js';
import type { Manifest, ManifestArtifact } from './manifest.js';
import { ProgressStream } from './progress-stream.js';
import type { ProviderRegistry } from './registry.js';
import type { BackupEntry, Repository } from './repository.js';
import { type DecodeStage, loadDecodeStages, openDecodedArtifact } from './restore.js';

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
  /** Problems of the backup as a whole: a manifest restore could not follow, a missing artifact. */
  problems?: string[];
  /** True when the artifacts were decoded and their raw SHA-256 and size checked too. */
  raw?: boolean;
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
    stopUnlessAboutTheBackup(error, ctx);
    return { file: artifact.file, ok: false, problem: toNexusError(error, 'IO').message };
  }
}

/**
 * Ctrl-C, or a mistake of the invocation (a missing passphrase file), says nothing about the backup:
 * reported per artifact it would read as damage, so the run stops with that one error instead.
 */
function stopUnlessAboutTheBackup(error: unknown, ctx: RunContext): void {
  if (ctx.signal.aborted) throw ctx.signal.reason ?? error;
  if (exitCodeFor(error) === EXIT.usage) throw error;
}

/**
 * Checks the stored bytes of every artifact; with `stages` also decodes them (decrypting and
 * decompressing as restore would) and checks the raw SHA-256 and size.
 */
export async function verifyBackup(
  repository: Repository,
  backup: BackupEntry,
  ctx: RunContext,
  stages?: readonly DecodeStage[],
): Promise<BackupCheck> {
  const artifacts: ArtifactCheck[] = [];
  for (const artifact of backup.manifest.artifacts) {
    if (stages) {
      artifacts.push(await verifyDecoded(repository, backup, stages, artifact, ctx));
      continue;
    }
    ctx.progress?.start(artifact.file, artifact.stored.bytes);
    artifacts.push(await verifyArtifact(repository, backup, artifact, ctx));
    ctx.progress?.done();
  }
  return {
    pipeline: backup.pipeline,
    id: backup.id,
    ok: artifacts.every((check) => check.ok),
    artifacts,
    raw: stages !== undefined,
  };
}

async function verifyDecoded(
  repository: Repository,
  backup: BackupEntry,
  stages: readonly DecodeStage[],
  artifact: ManifestArtifact,
  ctx: RunContext,
): Promise<ArtifactCheck> {
  try {
    const decoded = await openDecodedArtifact(repository, backup, stages, artifact, ctx);
    const discard = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    await pipeline(decoded, discard, { signal: ctx.signal });
    return { file: artifact.file, ok: true };
  } catch (error) {
    stopUnlessAboutTheBackup(error, ctx);
    // A decoder trips over changed bytes before the stored hash is complete: name that root cause.
    const stored = await verifyArtifact(repository, backup, artifact, ctx);
    if (!stored.ok) return stored;
    return { file: artifact.file, ok: false, problem: toNexusError(error, 'IO').message };
  }
}

/**
 * What restore would trip over before reading a byte: a source or transform provider that is not
 * installed, a transform whose extension is not the one recorded, artifact files that do not follow
 * the transform chain, the same file twice. Hashes and sizes are checked when the manifest is parsed.
 * Returns the decode stages when the manifest is usable, for a decoding verify.
 */
export async function checkRestorable(
  manifest: Manifest,
  registry: ProviderRegistry,
): Promise<{ problems: string[]; stages?: DecodeStage[] }> {
  const problems: string[] = [];
  try {
    await registry.load('source', manifest.source.provider);
  } catch (error) {
    problems.push(`source provider "${manifest.source.provider}": ${toNexusError(error).message}`);
  }
  let stages: DecodeStage[] | undefined;
  try {
    stages = await loadDecodeStages(registry, manifest.transforms);
  } catch (error) {
    problems.push(`transform provider: ${toNexusError(error).message}`);
  }
  manifest.transforms.forEach((transform, index) => {
    const definition = stages?.[index]?.definition;
    if (definition && transform.extension !== definition.extension) {
      problems.push(
        `transforms[${index}] (${transform.provider}) records extension "${transform.extension}", the provider writes "${definition.extension}"`,
      );
    }
    if (
      typeof transform.params !== 'object' ||
      transform.params === null ||
      Array.isArray(transform.params)
    ) {
      problems.push(`transforms[${index}] (${transform.provider}) has no decode parameters object`);
    }
  });
  const extensions = manifest.transforms.map((transform) => transform.extension).join('');
  const seen = new Set<string>();
  for (const artifact of manifest.artifacts) {
    if (typeof artifact.name !== 'string' || artifact.file !== `${artifact.name}${extensions}`) {
      problems.push(
        `artifact ${artifact.file} does not match its name plus the transform extensions "${extensions}"`,
      );
    }
    if (seen.has(artifact.file)) problems.push(`artifact ${artifact.file} is listed twice`);
    seen.add(artifact.file);
  }
  return problems.length > 0 ? { problems } : { problems, ...(stages ? { stages } : {}) };
}

/**
 * The thorough check `verify` and `prune` use: the manifest is restorable, the stored bytes match,
 * and, when no passphrase is needed (or `decrypt` is set), the decoded bytes match too.
 */
export async function verifyRestorable(
  repository: Repository,
  backup: BackupEntry,
  registry: ProviderRegistry,
  ctx: RunContext,
  options: { decrypt?: boolean } = {},
): Promise<BackupCheck> {
  const { problems, stages } = await checkRestorable(backup.manifest, registry);
  if (problems.length > 0 || !stages) {
    return { pipeline: backup.pipeline, id: backup.id, ok: false, artifacts: [], problems };
  }
  const encrypted = stages.some((stage) => stage.definition.encrypts);
  const decode = !encrypted || options.decrypt === true;
  return verifyBackup(repository, backup, ctx, decode ? stages : undefined);
}
