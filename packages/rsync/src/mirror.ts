import { createHash } from 'node:crypto';
import { pipeline, Readable } from 'node:stream';
import {
  type Destination,
  MANIFEST_FILE,
  NexusError,
  type RunContext,
  toNexusError,
  VerifyingStream,
} from '@nexus-backup/core';
import {
  emptyReport,
  formatBytes,
  type MirroredBackup,
  type MirrorOptions,
  type MirrorReport,
  refuseDeleteFromEmptySource,
} from './mirror-report.js';
import {
  type BackupFolder,
  type MirrorManifest,
  readMirrorManifest,
  scanBackupFolders,
} from './mirror-scan.js';

export type { MirroredBackup, MirrorOptions, MirrorReport } from './mirror-report.js';

/**
 * rsync semantics for backup repositories: copies new and changed backups (artifacts first, verified
 * by size and SHA-256 against the manifest, the manifest last so the target never shows a partial
 * backup), and with `delete` removes target backups the source no longer has.
 */
export async function mirrorRepository(options: MirrorOptions): Promise<MirrorReport> {
  if (options.via === 'rsync') {
    const { mirrorWithRsync } = await import('./mirror-rsync.js');
    return mirrorWithRsync(options);
  }
  return mirrorThroughDestinations(options);
}

async function mirrorThroughDestinations(options: MirrorOptions): Promise<MirrorReport> {
  const { source, target, ctx } = options;
  const dryRun = options.dryRun ?? false;
  const report = emptyReport('sftp', dryRun);
  const would = dryRun ? 'would ' : '';

  const local = await scanBackupFolders(source, ctx);
  const complete = [...local.values()].filter((folder) => folder.hasManifest);
  if (options.delete) refuseDeleteFromEmptySource(source, complete.length);
  const remote = await scanBackupFolders(target, ctx);

  for (const folder of local.values()) {
    ctx.signal.throwIfAborted();
    if (!folder.hasManifest) {
      report.skipped.push({ backup: folder.name, reason: 'no manifest yet (a running or crashed backup)' });
      continue;
    }
    let manifest: MirrorManifest;
    try {
      manifest = await readMirrorManifest(source, folder.name, ctx);
    } catch (error) {
      const failure = toNexusError(error, 'INTEGRITY');
      if (failure.code !== 'INTEGRITY' && failure.code !== 'NOT_FOUND') throw failure;
      report.skipped.push({ backup: folder.name, reason: failure.message });
      continue;
    }
    const remoteFolder = remote.get(folder.name);
    if (remoteFolder && (await isUnchanged(target, remoteFolder, manifest, ctx))) {
      report.unchanged.push(folder.name);
      continue;
    }
    try {
      const copied = await copyBackup(options, folder.name, manifest, remoteFolder, dryRun);
      report.copied.push(copied);
      report.bytesCopied += copied.bytes;
      report.lines.push(`${would}copy ${folder.name} (${copied.files} files, ${formatBytes(copied.bytes)})`);
    } catch (error) {
      const failure = toNexusError(error, 'IO');
      if (failure.code !== 'INTEGRITY' && failure.code !== 'NOT_FOUND') throw failure;
      report.failed.push({ backup: folder.name, error: failure });
      report.lines.push(`failed ${folder.name}: ${failure.message}`);
    }
  }

  if (options.delete) {
    for (const folder of remote.values()) {
      if (local.has(folder.name)) continue;
      ctx.signal.throwIfAborted();
      if (!dryRun) await deleteBackupFolder(target, folder, ctx);
      report.deleted.push(folder.name);
      report.lines.push(`${would}delete ${folder.name} from ${target.location}`);
    }
  }
  for (const skipped of report.skipped) report.lines.push(`skipped ${skipped.backup}: ${skipped.reason}`);
  report.lines.push(summary(report, target));
  return report;
}

/** Same manifest bytes and every artifact present with its stored size: nothing to do. */
async function isUnchanged(
  target: Destination,
  remote: BackupFolder,
  manifest: MirrorManifest,
  ctx: RunContext,
): Promise<boolean> {
  const remoteManifest = remote.files.get(MANIFEST_FILE);
  if (!remoteManifest || remoteManifest.bytes !== manifest.bytes.length) return false;
  const sizesMatch = manifest.artifacts.every(
    (artifact) => remote.files.get(artifact.file)?.bytes === artifact.stored.bytes,
  );
  if (!sizesMatch) return false;
  const remoteBytes = Buffer.concat(
    await (await target.get(`${remote.name}/${MANIFEST_FILE}`, ctx)).toArray(),
  );
  return remoteBytes.equals(manifest.bytes);
}

async function copyBackup(
  options: MirrorOptions,
  name: string,
  manifest: MirrorManifest,
  remote: BackupFolder | undefined,
  dryRun: boolean,
): Promise<MirroredBackup> {
  const { source, target, ctx } = options;
  const copied: MirroredBackup = { backup: name, files: 0, bytes: 0 };
  for (const artifact of manifest.artifacts) {
    const key = `${name}/${artifact.file}`;
    // An interrupted earlier mirror may have left this artifact complete: reuse it when its hash matches.
    const existing = remote?.files.get(artifact.file);
    if (
      existing?.bytes === artifact.stored.bytes &&
      !dryRun &&
      (await sha256Of(target, key, ctx)) === artifact.stored.sha256
    ) {
      continue;
    }
    copied.files++;
    copied.bytes += artifact.stored.bytes;
    if (dryRun) continue;
    const verified = pipeline(
      await source.get(key, ctx),
      new VerifyingStream(artifact.stored, `${source.location}/${key}`),
      () => {},
    );
    const { bytes } = await target.put(key, verified, ctx);
    if (bytes !== artifact.stored.bytes) {
      throw new NexusError(
        'INTEGRITY',
        `${target.location}/${key} stored ${bytes} bytes instead of ${artifact.stored.bytes}`,
      );
    }
  }
  copied.files++;
  copied.bytes += manifest.bytes.length;
  if (!dryRun) await target.put(`${name}/${MANIFEST_FILE}`, Readable.from([manifest.bytes]), ctx);
  return copied;
}

async function sha256Of(destination: Destination, key: string, ctx: RunContext): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await destination.get(key, ctx)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The manifest goes first, so an interrupted delete leaves a leftover for prune, never a broken backup. */
async function deleteBackupFolder(target: Destination, folder: BackupFolder, ctx: RunContext): Promise<void> {
  const keys = [...folder.files.keys()].map((file) => `${folder.name}/${file}`);
  const manifestKey = `${folder.name}/${MANIFEST_FILE}`;
  if (folder.hasManifest) await target.delete([manifestKey], ctx);
  await target.delete(
    keys.filter((key) => key !== manifestKey),
    ctx,
  );
}

function summary(report: MirrorReport, target: Destination): string {
  const verb = report.dryRun ? 'dry run, nothing changed: would copy' : 'copied';
  const deleted = report.dryRun ? 'would delete' : 'deleted';
  return `mirror to ${target.location}: ${verb} ${report.copied.length} backups (${formatBytes(report.bytesCopied)}), ${report.unchanged.length} unchanged, ${deleted} ${report.deleted.length}, skipped ${report.skipped.length}, failed ${report.failed.length}`;
}
