import { createHash } from 'node:crypto';
import { pipeline, Readable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import type { Destination, RunContext } from './contracts.js';
import { NexusError, toNexusError } from './errors.js';
import { formatBytes } from './format-bytes.js';
import { VerifyingStream } from './hashing.js';
import { withLease } from './lease.js';
import { MANIFEST_FILE } from './manifest.js';
import {
  emptyMirrorReport,
  type MirroredBackup,
  type MirrorOptions,
  type MirrorReport,
} from './mirror-contract.js';
import { type BackupEntry, Repository, type RepositoryScan } from './repository.js';

/** The method every pair of destinations supports: bytes flow through this process, verified. */
export const STREAM_MIRROR = 'stream';

/**
 * `mirror FROM TO` as an operation: holds a lease on every pipeline of the source in the target (folders
 * being copied have no manifest yet, and a prune of the target must not take them for leftovers).
 */
export async function mirrorRepositories(
  source: Repository,
  target: Repository,
  options: Omit<MirrorOptions, 'source' | 'target'>,
): Promise<MirrorReport> {
  const { ctx } = options;
  const copy = (leased: RunContext) =>
    mirrorRepository({ ...options, source: source.destination, target: target.destination, ctx: leased });
  const pipelines = options.dryRun ? [] : await source.pipelines(ctx);
  if (pipelines.length === 0) return copy(ctx);
  return withLease(target, pipelines, 'mirror', ctx, copy, { covers: '*' });
}

/**
 * rsync semantics for backup repositories on any two destinations: copies new and changed backups
 * (artifacts first, verified by size and SHA-256 against the manifest, the manifest last so the target
 * never shows a partial backup), and with `delete` removes target backups the source no longer has.
 * A target may offer a faster method (`via`); the source is read here either way, with core's reader.
 */
export async function mirrorRepository(options: MirrorOptions): Promise<MirrorReport> {
  const via = options.via ?? STREAM_MIRROR;
  const method = via === STREAM_MIRROR ? STREAM_MIRROR : options.target.mirrorMethods?.[via];
  if (method === undefined) {
    const offered = [STREAM_MIRROR, ...Object.keys(options.target.mirrorMethods ?? {})];
    throw new NexusError('USAGE', `${options.target.location} cannot be mirrored into via "${via}"`, {
      hint: `use one of: ${offered.join(', ')}`,
    });
  }
  const sourceScan = await new Repository(options.source).scan(options.ctx);
  if (options.delete) refuseDeleteFromEmptySource(options.source, sourceScan);
  if (method === STREAM_MIRROR) return mirrorByStreaming(options, sourceScan);
  return method({ ...options, via, sourceScan });
}

/** The empty-source guard: a mounted-but-empty disk must never wipe the remote copy. */
function refuseDeleteFromEmptySource(source: Destination, scan: RepositoryScan): void {
  if (scan.backups.length + scan.damaged.length + scan.unreadable.length > 0) return;
  throw new NexusError(
    'POLICY',
    `refusing to mirror with --delete: ${source.location} lists no complete backups, so every remote backup would be deleted`,
    {
      hint: 'check that the backup disk is mounted and the path is right; run without --delete to copy only',
    },
  );
}

/** Every backup folder of a scan by `<pipeline>/<backup-id>`, in name order, with what the scan made of it. */
export function scannedFolders(scan: RepositoryScan): Map<string, ScannedFolder> {
  const folders: (readonly [string, ScannedFolder])[] = [
    ...scan.backups.map((entry) => [nameOf(entry), { state: 'complete', entry }] as const),
    ...scan.damaged.map((entry) => [nameOf(entry), { state: 'damaged', entry }] as const),
    ...scan.unreadable.map((entry) => [nameOf(entry), { state: 'unreadable', error: entry.error }] as const),
    ...scan.leftovers.map((entry) => [nameOf(entry), { state: 'leftover' }] as const),
  ];
  return new Map(folders.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export type ScannedFolder =
  | { state: 'complete'; entry: BackupEntry }
  | { state: 'damaged'; entry: BackupEntry & { problems: string[] } }
  | { state: 'unreadable'; error: NexusError }
  | { state: 'leftover' };

function nameOf(folder: { pipeline: string; id: string }): string {
  return `${folder.pipeline}/${folder.id}`;
}

async function mirrorByStreaming(options: MirrorOptions, sourceScan: RepositoryScan): Promise<MirrorReport> {
  const { ctx } = options;
  const dryRun = options.dryRun ?? false;
  const report = emptyMirrorReport(STREAM_MIRROR, dryRun);
  const would = dryRun ? 'would ' : '';
  const source = new Repository(options.source);
  const target = new Repository(options.target);
  const local = scannedFolders(sourceScan);
  const remote = scannedFolders(await target.scan(ctx));

  for (const [name, folder] of local) {
    ctx.signal.throwIfAborted();
    if (folder.state === 'leftover') {
      report.skipped.push({ backup: name, reason: 'no manifest yet (a running or crashed backup)' });
      continue;
    }
    if (folder.state === 'unreadable') {
      // A manifest that cannot be read is damage (or a newer format), not a backup still running:
      // passing over it with exit 0 would let a mirror look complete when it is not.
      report.failed.push({ backup: name, error: folder.error });
      report.lines.push(`failed ${name}: ${folder.error.message}`);
      continue;
    }
    if (folder.state === 'damaged') {
      const error = new NexusError(
        'INTEGRITY',
        `${options.source.location}/${name} does not match its manifest: ${folder.entry.problems.join('; ')}`,
      );
      report.failed.push({ backup: name, error });
      report.lines.push(`failed ${name}: ${error.message}`);
      continue;
    }
    const onTarget = remote.get(name);
    // Intact on the target (every artifact at its recorded size) with the same manifest: nothing to do.
    if (onTarget?.state === 'complete' && isDeepStrictEqual(onTarget.entry.manifest, folder.entry.manifest)) {
      report.unchanged.push(name);
      continue;
    }
    try {
      const copied = await copyBackup(source, target, folder.entry, dryRun, ctx);
      report.copied.push(copied);
      report.bytesCopied += copied.bytes;
      report.lines.push(`${would}copy ${name} (${copied.files} files, ${formatBytes(copied.bytes)})`);
    } catch (error) {
      const failure = toNexusError(error, 'IO');
      if (failure.code !== 'INTEGRITY' && failure.code !== 'NOT_FOUND') throw failure;
      report.failed.push({ backup: name, error: failure });
      report.lines.push(`failed ${name}: ${failure.message}`);
    }
  }

  if (options.delete) {
    for (const name of remote.keys()) {
      if (local.has(name)) continue;
      ctx.signal.throwIfAborted();
      const [pipelineName, id] = name.split('/') as [string, string];
      if (!dryRun) await target.deleteBackup(pipelineName, id, ctx);
      report.deleted.push(name);
      report.lines.push(`${would}delete ${name} from ${options.target.location}`);
    }
  }
  for (const skipped of report.skipped) report.lines.push(`skipped ${skipped.backup}: ${skipped.reason}`);
  report.lines.push(summary(report, options.target));
  return report;
}

async function copyBackup(
  source: Repository,
  target: Repository,
  entry: BackupEntry,
  dryRun: boolean,
  ctx: RunContext,
): Promise<MirroredBackup> {
  const name = nameOf(entry);
  // Re-read as bytes: the target gets the source's manifest exactly, parsed by the same reader.
  const { manifest, bytes: manifestBytes } = await source.readManifestBytes(entry.pipeline, entry.id, ctx);
  const copied: MirroredBackup = { backup: name, files: 0, bytes: 0 };
  const existing = dryRun ? new Map<string, number>() : await listFolder(target.destination, name, ctx);
  for (const artifact of manifest.artifacts) {
    const key = target.key(entry.pipeline, entry.id, artifact.file);
    // An interrupted earlier mirror may have left this artifact complete: reuse it when its hash matches.
    if (
      existing.get(artifact.file) === artifact.stored.bytes &&
      (await sha256Of(target.destination, key, ctx)) === artifact.stored.sha256
    ) {
      continue;
    }
    copied.files++;
    copied.bytes += artifact.stored.bytes;
    if (dryRun) continue;
    const verified = pipeline(
      await source.destination.get(key, ctx),
      new VerifyingStream(artifact.stored, `${source.destination.location}/${key}`),
      () => {},
    );
    const { bytes } = await target.destination.put(key, verified, ctx);
    if (bytes !== artifact.stored.bytes) {
      throw new NexusError(
        'INTEGRITY',
        `${target.destination.location}/${key} stored ${bytes} bytes instead of ${artifact.stored.bytes}`,
      );
    }
  }
  copied.files++;
  copied.bytes += manifestBytes.length;
  if (!dryRun)
    await target.destination.put(
      target.key(entry.pipeline, entry.id, MANIFEST_FILE),
      Readable.from([manifestBytes]),
      ctx,
    );
  return copied;
}

/** File name -> stored bytes of one backup folder. */
async function listFolder(
  destination: Destination,
  name: string,
  ctx: RunContext,
): Promise<Map<string, number>> {
  const files = new Map<string, number>();
  for await (const object of destination.list(`${name}/`, ctx)) {
    files.set(object.key.slice(name.length + 1), object.bytes);
  }
  return files;
}

async function sha256Of(destination: Destination, key: string, ctx: RunContext): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await destination.get(key, ctx)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function summary(report: MirrorReport, target: Destination): string {
  const verb = report.dryRun ? 'dry run, nothing changed: would copy' : 'copied';
  const deleted = report.dryRun ? 'would delete' : 'deleted';
  return `mirror to ${target.location}: ${verb} ${report.copied.length} backups (${formatBytes(report.bytesCopied)}), ${report.unchanged.length} unchanged, ${deleted} ${report.deleted.length}, skipped ${report.skipped.length}, failed ${report.failed.length}`;
}
